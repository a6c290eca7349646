"""The bucketed selection of medians and 90th percentiles (analytics/percentiles.py) against
PostgreSQL's own ``percentile_cont`` (``repository.aggregate_sorted``) on the same facts: ties, one
value, two values, all-equal values, slices with no values, values on and beside the bucket edges,
negative and huge values, and every slice dimension, with and without the total row."""

from __future__ import annotations

import itertools
import math
import random
from datetime import timedelta
from typing import Any

import pytest

from opora.analytics import buckets, percentiles, service
from opora.analytics import facts as fact_kinds
from opora.analytics import repository as repo
from opora.analytics.definitions import Dimension, Filters, Metric, percentile, percentile_at
from opora.analytics.models import TicketFact
from opora.runtime import Runtime
from tests.analytics.scenario import Scenario, msk
from tests.support.factories import Desk

TZ = "Europe/Moscow"
START = msk(2, 0)
END = msk(30, 0)
CHANNELS = ["email", "telegram", "api"]
TOPICS = [None, "delivery", "payment", "refund"]
DIMENSIONS = [
    Dimension.TOTAL,
    Dimension.TEAM,
    Dimension.AGENT,
    Dimension.CHANNEL,
    Dimension.TOPIC,
    Dimension.PRIORITY,
    Dimension.HOUR,
    Dimension.DAY,
    Dimension.WEEK,
    Dimension.MONTH,
]


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("percentile_cont, the reference, is PostgreSQL's")


def _edge_values() -> list[float]:
    """Values on bucket edges and one step of a double either side, where a wrong comparison
    would put a value in the neighbouring bucket."""
    found: list[float] = [-5.0, 0.0, 3.3e8, 1e12]
    for edge in (buckets.EDGES[1], buckets.EDGES[2], buckets.EDGES[300], buckets.EDGES[-1]):
        found += [math.nextafter(edge, -math.inf), edge, math.nextafter(edge, math.inf)]
    return found


async def _store(runtime: Runtime, rows: list[dict[str, object]]) -> None:
    """Fact rows of the first-response kind, each on its own instant, for one ticket."""
    ticket_id = await Scenario(runtime).ticket(START)
    async with runtime.db.uow() as uow:
        uow.session.add_all(
            TicketFact(
                ticket_id=ticket_id,
                kind=fact_kinds.FIRST_RESPONSE,
                customer_id=1,
                ok=int(i % 3 == 0),
                channel_type=row.get("channel", "email"),
                priority=row.get("priority", "normal"),
                topic=row.get("topic"),
                team_id=row.get("team_id"),
                assignee_id=row.get("assignee_id"),
                at=row.get("at", START + timedelta(minutes=7 * i)),
                value=row["value"],
            )
            for i, row in enumerate(rows)
        )


async def _both(
    runtime: Runtime,
    dimension: Dimension,
    *,
    with_total: bool,
    filters: Filters | None = None,
    zone: str = TZ,
) -> tuple[list[repo.Aggregate], list[repo.Aggregate]]:
    wanted = filters or Filters()
    window = repo.Window(START, END, END)
    async with runtime.db.uow() as uow:
        f = repo.facts(Metric.FIRST_RESPONSE, window)
        new = await percentiles.aggregate_pg(
            uow.session, f, dimension, wanted, zone, span=(START, END), with_total=with_total
        )
        old = await repo.aggregate_sorted(uow.session, f, dimension, wanted, zone, with_total=with_total)
    return _ordered(new), _ordered(old)


def _ordered(found: list[repo.Aggregate]) -> list[repo.Aggregate]:
    return sorted(found, key=lambda a: (a.is_total, a.key is None, str(a.key)))


def _assert_same(new: list[repo.Aggregate], old: list[repo.Aggregate]) -> None:
    assert [(a.key, a.is_total, a.count, a.hits, a.median, a.p90) for a in new] == [
        (a.key, a.is_total, a.count, a.hits, a.median, a.p90) for a in old
    ]
    # The average is PostgreSQL's avg in both, over the same rows but summed in another order.
    for a, b in zip(new, old, strict=True):
        assert (a.average is None) == (b.average is None)
        if a.average is not None and b.average is not None:
            assert math.isclose(a.average, b.average, rel_tol=1e-12, abs_tol=1e-9)


async def test_edge_cases_per_slice_equal_percentile_cont(postgres: None, runtime: Runtime) -> None:
    rows: list[dict[str, object]] = []
    # One value; two values; all equal; ties across a wide spread; no values at all.
    rows += [{"topic": "one", "value": 42.5}]
    rows += [{"topic": "two", "value": v} for v in (10.0, 1000.0)]
    rows += [{"topic": "same", "value": 77.0} for _ in range(9)]
    rows += [{"topic": "ties", "value": v} for v in [5.0] * 4 + [60.0] * 7 + [3600.0] * 5 + [86400.0] * 3]
    rows += [{"topic": "none", "value": None} for _ in range(3)]
    rows += [{"topic": "edges", "value": v} for v in _edge_values()]
    rows += [{"topic": None, "value": v} for v in (1.5, 2.5, None, 9.0)]
    await _store(runtime, rows)

    for with_total in (False, True):
        new, old = await _both(runtime, Dimension.TOPIC, with_total=with_total)
        _assert_same(new, old)
    found = {a.key: a for a in new}
    # The reference agrees with the hand-worked answers, so the comparison is not vacuous.
    assert (found["one"].median, found["one"].p90) == (42.5, 42.5)
    assert (found["two"].median, found["two"].p90) == (505.0, pytest.approx(901.0))
    assert (found["same"].median, found["same"].p90) == (77.0, 77.0)
    assert (found["none"].count, found["none"].median, found["none"].average) == (3, None, None)
    assert found["edges"].median == percentile(sorted(_edge_values()), 0.5)


async def test_nothing_to_report_gives_only_an_empty_total(postgres: None, runtime: Runtime) -> None:
    await _store(runtime, [{"value": 1.0, "at": END + timedelta(days=3)}])
    new, old = await _both(runtime, Dimension.CHANNEL, with_total=True)
    assert new == old == [repo.Aggregate(None, 0, 0, None, None, None, is_total=True)]
    new, old = await _both(runtime, Dimension.CHANNEL, with_total=False)
    assert new == old == []


async def test_every_dimension_on_spread_values_equals_percentile_cont(
    postgres: None, runtime: Runtime, desk: Desk
) -> None:
    """A few thousand values spread as response times are (log-normal, some whole minutes so
    that ties occur), on every slice, period and filter."""
    pick = random.Random(9)
    teams = [None, desk.support.id, desk.billing.id]
    agents = [None, desk.olga.id, desk.pavel.id]
    rows: list[dict[str, object]] = []
    for _ in range(3000):
        value = pick.lognormvariate(7, 1.5)
        rows.append(
            {
                "value": float(round(value / 60) * 60) if pick.random() < 0.3 else value,
                "at": START + timedelta(seconds=pick.uniform(0, (END - START).total_seconds())),
                "team_id": pick.choice(teams),
                "assignee_id": pick.choice(agents),
                "channel": pick.choice(CHANNELS),
                "topic": pick.choice(TOPICS),
                "priority": pick.choice(["low", "normal", "high"]),
            }
        )
    await _store(runtime, rows)

    for dimension in DIMENSIONS:
        for with_total in (False, True):
            new, old = await _both(runtime, dimension, with_total=with_total)
            assert sum(a.count for a in new if not a.is_total) == len(rows)
            _assert_same(new, old)
    # Periods found by their starts, across Berlin's spring-forward night (29 March, 02:00 skipped)
    # and in a zone half an hour off UTC.
    for zone in ("Europe/Berlin", "Asia/Kolkata"):
        for dimension in (Dimension.HOUR, Dimension.DAY, Dimension.WEEK):
            new, old = await _both(runtime, dimension, with_total=True, zone=zone)
            _assert_same(new, old)
    narrowed = Filters(channel_types=["email", "api"], topics=["delivery"])
    new, old = await _both(runtime, Dimension.AGENT, with_total=True, filters=narrowed)
    _assert_same(new, old)
    assert sum(a.count for a in new if not a.is_total) == next(a.count for a in new if a.is_total)


def test_the_python_interpolation_reads_only_the_two_ranks() -> None:
    values = sorted([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    read: list[int] = []

    def at(rank: int) -> float:
        read.append(rank)
        return values[rank]

    assert percentile(values, 0.9) == pytest.approx(6.9)
    assert percentile_at(len(values), 0.9, at) == percentile(values, 0.9)
    assert sorted(set(read)) == [6, 7]


def test_the_edges_rise() -> None:
    edges = buckets.EDGES
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert edges[0] == 0.0 and edges[-1] >= buckets.TOP


async def test_a_fact_written_between_the_two_statements_is_not_half_seen(
    postgres: None, runtime: Runtime
) -> None:
    """Each statement reads its own snapshot: a fact committed in a wanted bucket between them
    makes the report count again, so its numbers are those of one moment."""
    await _store(runtime, [{"value": float(v)} for v in range(100, 200)])
    ticket_id = await Scenario(runtime).ticket(START)
    statements: list[object] = []

    class Interrupted:
        def __init__(self, session: object) -> None:
            self.session = session

        async def execute(self, statement: object) -> object:
            statements.append(statement)
            found = await self.session.execute(statement)  # type: ignore[attr-defined]
            if len(statements) == 1:
                # Another transaction commits a fact right at the median meanwhile.
                async with runtime.db.uow() as other:
                    other.session.add(
                        TicketFact(
                            ticket_id=ticket_id,
                            kind=fact_kinds.FIRST_RESPONSE,
                            customer_id=1,
                            ok=0,
                            channel_type="email",
                            priority="normal",
                            at=START + timedelta(hours=1),
                            value=149.25,
                        )
                    )
            return found

    window = repo.Window(START, END, END)
    async with runtime.db.uow() as uow:
        f = repo.facts(Metric.FIRST_RESPONSE, window)
        new = await percentiles.aggregate_pg(
            Interrupted(uow.session),  # type: ignore[arg-type]
            f,
            Dimension.CHANNEL,
            Filters(),
            TZ,
            span=(START, END),
            with_total=True,
        )
        old = await repo.aggregate_sorted(uow.session, f, Dimension.CHANNEL, Filters(), TZ, with_total=True)
    # Counted twice: the first pair of statements disagreed, the second agreed.
    assert len(statements) == 4
    _assert_same(_ordered(new), _ordered(old))
    assert next(a for a in new if a.is_total).count == 101


async def test_a_year_long_report_counts_buckets_and_gives_the_sorted_numbers(
    postgres: None, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pick = random.Random(3)
    await _store(
        runtime, [{"value": pick.lognormvariate(8, 1), "topic": pick.choice(TOPICS)} for _ in range(500)]
    )
    query = service.ReportQuery(Metric.FIRST_RESPONSE, END - timedelta(days=365), END, Dimension.WEEK)
    counted: list[object] = []
    bucketed = percentiles.aggregate_pg

    async def spy(*args: Any, **kwargs: Any) -> list[repo.Aggregate]:
        counted.append(args)
        return await bucketed(*args, **kwargs)

    monkeypatch.setattr(percentiles, "aggregate_pg", spy)
    async with runtime.db.uow() as uow:
        new = await service.report(uow, query, timezone=TZ, now=END)
    assert counted
    monkeypatch.setattr(service, "BUCKETED_FROM", timedelta(days=400))
    async with runtime.db.uow() as uow:
        old = await service.report(uow, query, timezone=TZ, now=END)
    assert len(counted) == 2  # the report and its previous span; none with the sort
    assert [(s.key, s.count, s.median, s.p90) for s in new.rows] == [
        (s.key, s.count, s.median, s.p90) for s in old.rows
    ]
    assert (new.total.count, new.total.median, new.total.p90) == (500, old.total.median, old.total.p90)
