"""The stored value bucket of each fact (analytics/buckets.py, ADR 39): PostgreSQL's
``width_bucket`` in Python, written with every fact, kept with its value, backfilled by migration
0025, and never trusted when missing."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import math
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update

from opora.analytics import buckets, facts, percentiles
from opora.analytics import repository as repo
from opora.analytics.definitions import Dimension
from opora.analytics.models import TicketFact
from opora.migrate import upgrade
from opora.runtime import Runtime
from tests.analytics.old_desk import old_desk_with_one_ticket
from tests.analytics.scenario import Scenario, msk
from tests.analytics.test_percentiles import START, _both, _edge_values, _store
from tests.support import services

MIGRATION = Path(__file__).parents[2] / "src/opora/migrations/versions/0025_ticket_fact_buckets.py"
# Values where a bucket could go wrong: edges and a double either side, zero of both signs,
# negatives, past the last edge, infinities and NaN (which PostgreSQL sorts above all).
ODD = [-math.inf, -1e300, -5.0, -0.0, 0.0, 5e-324, 0.5, 3.3e8, 1e12, 1e308, math.inf, math.nan]


def _values() -> list[float]:
    return _edge_values() + ODD + [buckets.EDGES[i] * 1.01 for i in range(1, len(buckets.EDGES), 97)]


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("migration_0025", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_larger_value_never_has_a_smaller_bucket() -> None:
    ordered = sorted(v for v in _values() if not math.isnan(v))
    found = [buckets.bucket_of(v) for v in ordered]
    assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(found))
    assert buckets.bucket_of(-1.0) == 0 and buckets.bucket_of(0.0) == 1
    assert buckets.bucket_of(math.nan) == buckets.bucket_of(math.inf) == len(buckets.EDGES)
    assert buckets.bucket_of(None) is None
    # It fits the column (SMALLINT).
    assert len(buckets.EDGES) < 2**15


def test_the_migration_backfills_with_the_code_ladder() -> None:
    migration = _migration()
    assert migration.EDGES == buckets.EDGES
    for v in _values():
        assert migration._bucket(v) == buckets.bucket_of(v)


async def test_bucket_of_is_postgres_width_bucket(backend: str, runtime: Runtime) -> None:
    if backend != "postgres":
        pytest.skip("width_bucket is PostgreSQL's")
    values = _values()
    statement = select(text("v"), text(f"width_bucket(v, {buckets.edges_sql().text})")).select_from(
        text("unnest(CAST(:values AS float8[])) AS v")
    )
    async with runtime.db.uow() as uow:
        rows = (await uow.session.execute(statement, {"values": values})).all()
    assert len(rows) == len(values)
    for v, found in rows:
        assert found == buckets.bucket_of(v), v


async def _stored(runtime: Runtime, ticket_id: int) -> list[tuple[str, float | None, int | None]]:
    async with runtime.db.uow() as uow:
        query = (
            select(TicketFact.kind, TicketFact.value, TicketFact.bucket)
            .where(TicketFact.ticket_id == ticket_id)
            .order_by(TicketFact.kind, TicketFact.at)
        )
        return [(r[0], r[1], r[2]) for r in await uow.session.execute(query)]


async def test_each_fact_keeps_the_bucket_of_its_value(runtime: Runtime) -> None:
    s = Scenario(runtime)
    ticket_id = await s.ticket(msk(2, 10))
    await s.reply(ticket_id, msk(2, 10, 7))
    await s.status(ticket_id, msk(2, 12), "solved")
    first = await _stored(runtime, ticket_id)
    assert {kind for kind, _, _ in first} >= {"created", "first_response", "solve"}
    assert all(bucket == buckets.bucket_of(value) for _, value, bucket in first)
    assert [b for kind, _, b in first if kind == "created"] == [None]
    # Reopened and solved a day later: the final resolution is a longer value in a later bucket.
    await s.status(ticket_id, msk(3, 9), "open")
    await s.status(ticket_id, msk(3, 12), "solved")
    second = await _stored(runtime, ticket_id)
    solves = [(value, bucket) for kind, value, bucket in second if kind == "solve"]
    assert len(solves) == 2 and solves[0][1] < solves[1][1]
    assert all(bucket == buckets.bucket_of(value) for _, value, bucket in second)


async def test_a_bucket_that_is_not_its_values_is_found_and_repaired(runtime: Runtime) -> None:
    s = Scenario(runtime)
    ticket_id = await s.ticket(msk(2, 10))
    await s.reply(ticket_id, msk(2, 10, 7))
    other = await s.ticket(msk(2, 11))
    await s.reply(other, msk(2, 11, 30))
    # A value written around facts.refresh (a hand edit), leaving its bucket behind.
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(TicketFact)
            .where(TicketFact.ticket_id == ticket_id, TicketFact.kind == "first_response")
            .values(value=86400.0)
        )
    async with runtime.db.uow() as uow:
        assert await facts.differences(uow.session, [ticket_id, other]) == [ticket_id]
        await facts.refresh(uow.session, [ticket_id])
    async with runtime.db.uow() as uow:
        assert await facts.differences(uow.session, [ticket_id, other]) == []
    assert all(bucket == buckets.bucket_of(value) for _, value, bucket in await _stored(runtime, ticket_id))


async def test_an_insert_naming_no_bucket_gets_its_values(runtime: Runtime) -> None:
    ticket_id = await Scenario(runtime).ticket(START)
    async with runtime.db.uow() as uow:
        uow.session.add_all(
            TicketFact(
                ticket_id=ticket_id,
                kind="first_response",
                customer_id=1,
                ok=0,
                channel_type="email",
                priority="normal",
                at=START + timedelta(minutes=i),
                value=value,
            )
            for i, value in enumerate([None, -3.0, 0.0, 59.5, 1e12])
        )
    stored = await _stored(runtime, ticket_id)
    assert [b for kind, _, b in stored if kind == "first_response"] == [
        buckets.bucket_of(v) for v in [None, -3.0, 0.0, 59.5, 1e12]
    ]


async def test_facts_without_a_bucket_take_the_sorting_statement(
    backend: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgres":
        pytest.skip("the bucketed statements are PostgreSQL's")
    await _store(runtime, [{"value": float(v % 37), "channel": ["email", "api"][v % 2]} for v in range(200)])
    # Facts from before the backfill, or written by hand: a value and no bucket.
    async with runtime.db.uow() as uow:
        await uow.session.execute(text("UPDATE ticket_facts SET bucket = NULL WHERE value < 5"))
    sorted_calls: list[object] = []
    sorting = repo.aggregate_sorted

    async def spy(*args: Any, **kwargs: Any) -> list[repo.Aggregate]:
        sorted_calls.append(args)
        return await sorting(*args, **kwargs)

    monkeypatch.setattr(percentiles, "aggregate_sorted", spy)
    new, old = await _both(runtime, Dimension.CHANNEL, with_total=True)
    assert len(sorted_calls) == 1
    assert [(a.key, a.count, a.median, a.p90) for a in new] == [
        (a.key, a.count, a.median, a.p90) for a in old
    ]
    assert next(a for a in new if a.is_total).count == 200


async def test_the_second_statement_reads_only_the_wanted_buckets(
    backend: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values far from the median and the 90th percentile stay out of the second statement: it
    selects by the stored bucket, so a wrong stored bucket there would change the result."""
    if backend != "postgres":
        pytest.skip("the bucketed statements are PostgreSQL's")
    await _store(runtime, [{"value": float(60 * (1 + v))} for v in range(100)])
    statements: list[str] = []
    run = percentiles._two_passes

    async def spy(session: Any, *args: Any, **kwargs: Any) -> Any:
        class Seen:
            async def execute(self, statement: Any) -> Any:
                statements.append(str(statement.compile(compile_kwargs={"literal_binds": True})))
                return await session.execute(statement)

        return await run(Seen(), *args, **kwargs)

    monkeypatch.setattr(percentiles, "_two_passes", spy)
    new, old = await _both(runtime, Dimension.TOTAL, with_total=False)
    assert len(statements) == 2 and "width_bucket" not in " ".join(statements)
    # Ranks 49 and 50 (the median), 89 and 90 (the 90th percentile) of 60, 120, ... 6000.
    wanted = {buckets.bucket_of(60.0 * (1 + rank)) for rank in (49, 50, 89, 90)}
    assert f"facts.bucket IN ({', '.join(str(b) for b in sorted(wanted))})" in statements[1]
    assert [(a.count, a.median, a.p90) for a in new] == [(a.count, a.median, a.p90) for a in old]


async def test_migration_backfills_the_bucket_on_sqlite(tmp_path: Path) -> None:
    url = await old_desk_with_one_ticket(tmp_path / "old.db", "0024")
    values = [v for v in _values() if math.isfinite(v)]
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.executemany(
            "INSERT INTO ticket_facts (ticket_id, kind, at, value, ok, customer_id, channel_type, priority)"
            " VALUES (1, 'first_response', '2026-01-01 00:00:00.000000', ?, 0, 1, 'api', 'normal')",
            [(v,) for v in values] + [(None,)],
        )
    await asyncio.to_thread(upgrade, url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        rows = db.execute("SELECT value, bucket FROM ticket_facts ORDER BY id").fetchall()
    assert rows == [(v, buckets.bucket_of(v)) for v in values] + [(None, None)]


async def test_migration_backfills_the_bucket_on_postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL's backfill is one UPDATE with width_bucket")
    name = f"opora_buckets_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(services.create_pg_database, name)
    values = _values()
    try:
        await asyncio.to_thread(upgrade, url, "0024")
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as db:
            db.execute(
                "INSERT INTO customers (id, name, custom_fields, orders_count, total_spent_minor, created_at,"
                " updated_at) VALUES (1, 'C', '{}', 0, 0, now(), now())"
            )
            db.execute(
                "INSERT INTO tickets (id, subject, status, priority, channel_type, customer_id, custom_fields,"
                " created_at, updated_at, status_changed_at) VALUES (1, 'S', 'new', 'normal', 'api', 1, '{}',"
                " now(), now(), now())"
            )
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO ticket_facts (ticket_id, kind, at, value, ok, customer_id, channel_type,"
                    " priority) VALUES (1, 'first_response', now(), %s, 0, 1, 'api', 'normal')",
                    [(v,) for v in values] + [(None,)],
                )
        await asyncio.to_thread(upgrade, url)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as db:
            rows = db.execute("SELECT value, bucket FROM ticket_facts ORDER BY id").fetchall()
        assert [b for _, b in rows] == [buckets.bucket_of(v) for v in values] + [None]
    finally:
        await asyncio.to_thread(services.drop_pg_database, name)
