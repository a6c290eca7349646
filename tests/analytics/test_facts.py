"""The facts table behind the reports: kept by the reactor on the desk's real paths, backfilled
in batches for older tickets, and checked (and repaired) against the events."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from opora.analytics import facts, rollups, service, tasks
from opora.analytics.definitions import Dimension, Metric
from opora.analytics.models import TicketFact, TicketFactHour
from opora.analytics.service import ReportQuery
from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.migrate import upgrade
from opora.runtime import Runtime
from tests.analytics.old_desk import old_desk_with_one_ticket
from tests.analytics.test_metrics import END, NOW, START, TZ, run, week  # noqa: F401
from tests.support.factories import Desk
from tests.test_cli import opora

__all__ = ["week"]


async def _figures(runtime: Runtime) -> list[tuple[int, int, float | None, float | None]]:
    result = []
    for metric in Metric:
        if metric in (Metric.CSAT, Metric.BACKLOG):
            continue
        total = (await run(runtime, metric)).total
        result.append((total.count, total.hits, total.average, total.p90))
    return result


async def _stored_count(runtime: Runtime) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(TicketFact)) or 0)


async def test_api_changes_keep_facts_in_the_same_transaction(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    body = {
        "subject": "Где мой заказ?",
        "customer": {"identity": {"kind": "email", "value": "irina@mail.example"}, "name": "Ирина"},
        "message": {"text": "Заказ не приходит.", "author": "customer"},
        "team_id": desk.support.id,
    }
    made = await client.post("/api/v1/tickets", json=body, headers=desk.olga_h)
    assert made.status_code == 201, made.text
    ticket_id = made.json()["id"]
    reply = await client.post(
        f"/api/v1/tickets/{ticket_id}/messages", json={"text": "Уже в пути."}, headers=desk.olga_h
    )
    assert reply.status_code == 201, reply.text
    solved = await client.patch(
        f"/api/v1/tickets/{ticket_id}", json={"status": "solved"}, headers=desk.olga_h
    )
    assert solved.status_code == 200, solved.text

    now = utcnow()
    span = (now - timedelta(hours=1), now + timedelta(minutes=1))

    async def report(metric: Metric, dimension: Dimension = Dimension.TOTAL) -> service.Report:
        async with runtime.db.uow() as uow:
            return await service.report(uow, ReportQuery(metric, *span, dimension), timezone=TZ, now=now)

    assert (await report(Metric.CREATED)).total.count == 1
    assert (await report(Metric.FIRST_RESPONSE)).total.count == 1
    fcr = (await report(Metric.FCR)).total
    assert (fcr.count, fcr.hits) == (1, 1)
    by_team = {r.key: r.count for r in (await report(Metric.SOLVED, Dimension.TEAM)).rows}
    assert by_team == {str(desk.support.id): 1}

    # A move to another team moves every fact of the ticket with it.
    moved = await client.patch(
        f"/api/v1/tickets/{ticket_id}", json={"team_id": desk.billing.id}, headers=desk.admin_h
    )
    assert moved.status_code == 200, moved.text
    by_team = {r.key: r.count for r in (await report(Metric.SOLVED, Dimension.TEAM)).rows}
    assert by_team == {str(desk.billing.id): 1}
    async with runtime.db.uow() as uow:
        assert await facts.differences(uow.session, [ticket_id]) == []


async def test_backfill_rebuilds_the_facts_of_older_tickets_in_batches(
    runtime: Runtime,
    week: dict[str, int],
) -> None:
    before = await _figures(runtime)
    rows = await _stored_count(runtime)
    async with runtime.db.uow() as uow:
        # A desk from before the facts has neither facts nor their hourly counts.
        await uow.session.execute(delete(TicketFact))
        await uow.session.execute(delete(TicketFactHour))
    assert (await run(runtime, Metric.CREATED)).total.count == 0

    after, steps = 0, 0
    while True:
        async with runtime.db.uow() as uow:
            reached = await tasks.backfill_step(uow, after=after, size=4)
        if reached is None:
            break
        after, steps = reached, steps + 1
    assert steps == 2  # six tickets, four a batch
    assert await _stored_count(runtime) == rows
    assert await _figures(runtime) == before
    async with runtime.db.uow() as uow:
        queued = (
            await uow.session.scalars(select(Job.unique_key).where(Job.task == tasks.BACKFILL_TASK))
        ).all()
    assert sorted(queued) == sorted(f"{tasks.BACKFILL_TASK}:{week[k]}" for k in ("t4", "t6"))


async def test_backfill_refuses_an_empty_batch_and_changes_nothing(
    runtime: Runtime,
    week: dict[str, int],
) -> None:
    rows = await _stored_count(runtime)
    with pytest.raises(ValueError, match="at least one"):
        async with runtime.db.uow() as uow:
            await tasks.backfill_step(uow, after=0, size=0)
    assert await _stored_count(runtime) == rows


async def test_check_finds_drifted_facts_and_repairs_them(
    runtime: Runtime,
    week: dict[str, int],
) -> None:
    before = await _figures(runtime)
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(TicketFact)
            .where(TicketFact.ticket_id == week["t2"], TicketFact.kind == facts.SOLVE)
            .values(value=1.0)
        )
        await uow.session.execute(delete(TicketFact).where(TicketFact.ticket_id == week["t6"]))
    async with runtime.db.uow() as uow:
        found = await facts.check_batch(uow.session, after=0, size=100, repair=False)
    assert found.wrong == [week["t2"], week["t6"]] and found.tickets == 6
    assert await _figures(runtime) != before
    async with runtime.db.uow() as uow:
        await facts.check_batch(uow.session, after=0, size=100, repair=True)
        # Facts changed behind the desk's back leave the hourly counts of the old ones: a repair
        # recounts them (as `opora facts check --repair` does).
        await rollups.rebuild(uow.session)
    async with runtime.db.uow() as uow:
        again = await facts.check_batch(uow.session, after=0, size=100, repair=False)
    assert again.wrong == [] and again.last_id == week["t6"]
    assert await _figures(runtime) == before
    async with runtime.db.uow() as uow:
        assert (
            await facts.check_batch(uow.session, after=week["t6"], size=100, repair=False)
        ).last_id is None


@pytest.mark.slow
def test_facts_commands_check_repair_and_backfill_a_real_desk(tmp_path: Path) -> None:
    assert opora(tmp_path, "demo").returncode == 0
    clean = opora(tmp_path, "facts", "check")
    assert clean.returncode == 0 and "Checked 14 tickets: 0 differ" in clean.stdout, clean.stderr
    with sqlite3.connect(tmp_path / "opora.db") as db:
        db.execute("DELETE FROM ticket_facts WHERE ticket_id = (SELECT min(id) FROM tickets)")
    drifted = opora(tmp_path, "facts", "check")
    assert drifted.returncode == 1 and "differ: " in drifted.stderr
    repaired = opora(tmp_path, "facts", "check", "--repair")
    assert repaired.returncode == 0 and "1 differ from their events (recomputed)" in repaired.stdout
    assert opora(tmp_path, "facts", "check").returncode == 0
    refilled = opora(tmp_path, "facts", "backfill", "--batch", "5")
    assert refilled.returncode == 0 and "Facts recomputed for 14 tickets." in refilled.stdout
    bad = opora(tmp_path, "facts", "backfill", "--batch", "0")
    assert bad.returncode != 0


async def test_the_migration_queues_the_backfill_on_a_desk_with_tickets(tmp_path: Path) -> None:
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    await asyncio.to_thread(upgrade, empty)
    with sqlite3.connect(tmp_path / "empty.db") as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)

    url = await old_desk_with_one_ticket(tmp_path / "old.db", "0014")
    await asyncio.to_thread(upgrade, url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        jobs = db.execute("SELECT task, state, unique_key, payload FROM jobs").fetchall()
    assert len(jobs) == 1
    task, state, key, payload = jobs[0]
    assert (task, state, key) == (tasks.BACKFILL_TASK, "queued", f"{tasks.BACKFILL_TASK}:0")
    assert json.loads(payload) == {"after": 0, "size": 1000}
