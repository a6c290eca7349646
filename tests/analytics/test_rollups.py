"""The hourly counts: kept with the facts, rebuilt from them, and giving every count and rate
report the very numbers the facts alone give, over whole hours and over spans cut mid-hour."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, update

from opora.analytics import facts, rollups, service
from opora.analytics.definitions import Dimension, Filters, Metric
from opora.analytics.models import TicketFactHour
from opora.analytics.service import ReportQuery
from opora.migrate import upgrade
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.analytics.old_desk import old_desk_with_one_ticket
from tests.analytics.scenario import Scenario, msk
from tests.support.factories import Desk
from tests.test_cli import opora

TZ = "Europe/Moscow"
NOW = msk(23, 0)
# Whole Moscow days (whole UTC hours), and spans cut mid-hour at either end; one ends at 12:15 on
# Tuesday, between T3's first solve (11:30) and its solve after the reopen (12:30).
SPANS = [
    (msk(16, 0), msk(23, 0)),
    (msk(13, 17, 10), msk(20, 9, 35)),
    (msk(16, 9, 45), msk(17, 12, 15)),
    (msk(17, 11, 59), msk(18, 11, 1)),
]
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
async def tickets(runtime: Runtime, desk: Desk) -> dict[str, int]:
    """Tickets of two teams and two agents over a week, with replies, solves, a reopen, SLA
    clocks met and missed, bot outcomes, an escalation and a merge."""
    s = Scenario(runtime)
    await s.office_hours_policy()
    support, billing = desk.support.id, desk.billing.id
    olga, pavel = desk.olga.id, desk.pavel.id
    t1 = await s.ticket(msk(13, 17, 30), topic="delivery", team_id=support, assignee_id=olga)
    await s.reply(t1, msk(16, 9, 20))
    await s.status(t1, msk(16, 10), "solved")

    t2 = await s.ticket(msk(16, 10), topic="delivery", team_id=support, assignee_id=olga)
    await s.reply(t2, msk(16, 10, 10))
    await s.customer_writes(t2, msk(16, 14))
    await s.reply(t2, msk(16, 14, 30))
    await s.status(t2, msk(16, 15), "solved")

    t3 = await s.ticket(msk(17, 10), topic="payment", priority="high", team_id=billing, assignee_id=pavel)
    await s.reply(t3, msk(17, 11, 20))
    await s.status(t3, msk(17, 11, 30), "solved")
    await s.status(t3, msk(17, 12), "open")
    await s.status(t3, msk(17, 12, 30), "solved")

    t4 = await s.ticket(msk(17, 10, 40), channel="api", segment="vip", topic="payment", team_id=billing)
    await s.event(t4, msk(17, 10, 45), "bot_handoff")
    await s.reply(t4, msk(17, 11))
    await s.status(t4, msk(17, 12), "solved")

    t5 = await s.ticket(msk(18, 10, 20), team_id=support)
    await s.merge(t5, t4, msk(18, 10, 30))

    t6 = await s.ticket(msk(18, 11), channel="api", assignee_id=olga)
    await s.event(t6, msk(18, 11, 10), "bot_resolved")
    await s.event(t6, msk(18, 11, 30), "escalated", {"reason": "L2"})

    t7 = await s.ticket(msk(19, 16, 50), topic="refund", priority="urgent", team_id=support, assignee_id=olga)
    await s.reply(t7, msk(20, 11, 30))
    await s.status(t7, msk(20, 12, 5), "solved")
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5, "t6": t6, "t7": t7}


async def _report(runtime: Runtime, query: ReportQuery) -> service.Report:
    async with runtime.db.uow() as uow:
        return await service.report(uow, query, timezone=TZ, now=NOW)


def _numbers(result: service.Report) -> tuple[object, ...]:
    return (
        [(r.key, r.count, r.hits) for r in result.rows],
        (result.total.count, result.total.hits),
        None if result.previous is None else (result.previous.count, result.previous.hits),
    )


async def test_every_count_and_rate_report_equals_the_facts_alone(
    runtime: Runtime, tickets: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [
        ReportQuery(metric, start, end, dimension)
        for metric in rollups.SOURCES
        for start, end in SPANS
        for dimension in DIMENSIONS
        if not (dimension == Dimension.HOUR and end - start > timedelta(days=31))
    ]
    zone = ZoneInfo(TZ)
    planned = [q for q in cases if rollups.plan(q.metric, q.start, q.end, q.dimension, q.filters, zone)]
    assert len(planned) == len(cases)  # every case here reads the hourly counts
    with_counts = [_numbers(await _report(runtime, q)) for q in cases]
    monkeypatch.setattr(rollups, "plan", lambda *args: None)
    facts_alone = [_numbers(await _report(runtime, q)) for q in cases]
    for query, got, want in zip(cases, with_counts, facts_alone, strict=True):
        assert got == want, query
    # Not all empty: the scenario's numbers are there.
    created = dict((k, n) for k, n, _ in with_counts[DIMENSIONS.index(Dimension.DAY)][0])  # type: ignore[index]
    assert created["2026-03-17T00:00"] == 2 and created["2026-03-19T00:00"] == 1


async def test_filtered_reports_equal_the_facts_alone(
    runtime: Runtime, tickets: dict[str, int], desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = SPANS[1]
    filters = [
        (Dimension.TEAM, Filters(team_ids=(desk.support.id,))),
        (Dimension.DAY, Filters(agent_ids=(desk.olga.id, desk.pavel.id))),
        (Dimension.TOTAL, Filters(priorities=("high", "urgent"))),
        (Dimension.CHANNEL, Filters(channel_types=("api",))),
        # Two dimensions and the segment: the facts answer these whole.
        (Dimension.TEAM, Filters(topics=("payment",))),
        (Dimension.SEGMENT, Filters()),
        (Dimension.TOTAL, Filters(segments=("vip",))),
    ]
    cases = [
        ReportQuery(metric, start, end, dimension, f)
        for metric in rollups.SOURCES
        for dimension, f in filters
    ]
    with_counts = [_numbers(await _report(runtime, q)) for q in cases]
    monkeypatch.setattr(rollups, "plan", lambda *args: None)
    for query, got in zip(cases, with_counts, strict=True):
        assert got == _numbers(await _report(runtime, query)), query


async def test_drill_down_lists_the_tickets_behind_each_number(
    runtime: Runtime, tickets: dict[str, int]
) -> None:
    start, end = SPANS[2]
    for metric in (Metric.CREATED, Metric.SOLVED, Metric.REOPEN):
        result = await _report(runtime, ReportQuery(metric, start, end, Dimension.DAY))
        for row in result.rows:
            async with runtime.db.uow() as uow:
                ids = await service.drill_down(
                    uow,
                    ReportQuery(metric, start, end, Dimension.DAY),
                    key=row.key,
                    ok=None,
                    timezone=TZ,
                    now=NOW,
                )
            assert len(ids) == row.count, (metric, row.key)
    # The span ends between T3's two solves: its first solve is the one counted, reopened.
    reopened = await _report(runtime, ReportQuery(Metric.REOPEN, start, end))
    assert (reopened.total.count, reopened.total.hits) == (4, 1)


async def test_counts_kept_by_each_transaction_equal_a_rebuild(
    runtime: Runtime, tickets: dict[str, int], desk: Desk
) -> None:
    async with runtime.db.uow() as uow:
        kept = await rollups.stored_rows(uow.session)
        assert kept == await rollups.recounted_rows(uow.session)
    # A reassignment moves the ticket's counts to another agent and team, with its event.
    s = Scenario(runtime)
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(Ticket).where(Ticket.id == tickets["t1"]).values(assignee_id=desk.pavel.id)
        )
    await s.event(tickets["t1"], msk(20, 13), "assigned", {"assignee_id": desk.pavel.id})
    async with runtime.db.uow() as uow:
        moved = await rollups.stored_rows(uow.session)
        assert moved == await rollups.recounted_rows(uow.session)
        assert moved != kept
        created_hour = rollups.hour_start(msk(13, 17, 30))
        assert moved[("created", "agent", created_hour, str(desk.pavel.id))][0] == 1
        assert ("created", "agent", created_hour, str(desk.olga.id)) not in moved
        assert await rollups.rebuild(uow.session) == len(moved)
    async with runtime.db.uow() as uow:
        assert await rollups.stored_rows(uow.session) == moved


async def test_a_rolled_back_transaction_leaves_the_counts_alone(
    runtime: Runtime, tickets: dict[str, int]
) -> None:
    async with runtime.db.uow() as uow:
        before = await rollups.stored_rows(uow.session)
    s = Scenario(runtime)

    async def failing() -> None:
        async with runtime.db.uow() as uow:
            await facts.refresh(uow.session, [tickets["t2"]])
            await uow.session.execute(delete(TicketFactHour))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        await failing()
    await s.status(tickets["t6"], msk(20, 15), "solved")
    async with runtime.db.uow() as uow:
        after = await rollups.stored_rows(uow.session)
        assert after == await rollups.recounted_rows(uow.session)
    assert len(after) > len(before)


def test_plan_leaves_to_the_facts_what_the_counts_cannot_answer() -> None:
    moscow, india = ZoneInfo(TZ), ZoneInfo("Asia/Kolkata")
    start, end = datetime(2026, 3, 1, tzinfo=moscow), datetime(2026, 3, 8, tzinfo=moscow)
    assert rollups.plan(Metric.CREATED, start, end, Dimension.WEEK, Filters(), moscow) is not None
    # Local days of India start at half past an hour.
    assert rollups.plan(Metric.CREATED, start, end, Dimension.DAY, Filters(), india) is None
    assert rollups.plan(Metric.CREATED, start, end, Dimension.TEAM, Filters(), india) is not None
    assert rollups.plan(Metric.FIRST_RESPONSE, start, end, Dimension.TOTAL, Filters(), moscow) is None
    assert rollups.plan(Metric.CREATED, start, end, Dimension.SEGMENT, Filters(), moscow) is None
    two = Filters(team_ids=(1,), topics=("payment",))
    assert rollups.plan(Metric.CREATED, start, end, Dimension.TOTAL, two, moscow) is None
    assert (
        rollups.plan(Metric.CREATED, start, start + timedelta(minutes=50), Dimension.TOTAL, Filters(), moscow)
        is None
    )
    same = rollups.plan(Metric.SOLVED, start, end, Dimension.TEAM, Filters(team_ids=(3, 4)), moscow)
    assert same is not None and same.dim == "team" and same.keys == ("3", "4")


async def test_the_migration_queues_the_rebuild_on_a_desk_with_facts(tmp_path: Path) -> None:
    url = await old_desk_with_one_ticket(tmp_path / "old.db", "0020")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute(
            "INSERT INTO ticket_facts (ticket_id, kind, at, ok, customer_id, channel_type, priority)"
            " VALUES (1, 'created', '2026-01-01 00:00:00.000000', 0, 1, 'api', 'normal')"
        )
        db.execute("DELETE FROM jobs")
    await asyncio.to_thread(upgrade, url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        jobs = db.execute("SELECT task, state FROM jobs").fetchall()
    assert jobs == [("analytics.rebuild_fact_hours", "queued")]


@pytest.mark.slow
def test_hours_command_checks_and_rebuilds_a_real_desk(tmp_path: Path) -> None:
    assert opora(tmp_path, "demo").returncode == 0
    clean = opora(tmp_path, "facts", "hours", "--check")
    assert clean.returncode == 0 and "hourly counts agree with the facts" in clean.stdout, clean.stderr
    with sqlite3.connect(tmp_path / "opora.db") as db:
        db.execute("UPDATE ticket_fact_hours SET n = n + 1 WHERE dim = 'total' AND kind = 'created'")
    drifted = opora(tmp_path, "facts", "hours", "--check")
    assert drifted.returncode == 1 and "differ: created total" in drifted.stderr
    rebuilt = opora(tmp_path, "facts", "hours")
    assert rebuilt.returncode == 0 and "Hourly counts rebuilt" in rebuilt.stdout
    assert opora(tmp_path, "facts", "hours", "--check").returncode == 0


async def test_concurrent_transactions_add_to_the_same_hour_without_losing_a_count(
    runtime: Runtime, desk: Desk
) -> None:
    s = Scenario(runtime)
    made = [await s.ticket(msk(16, 10, minute), team_id=desk.support.id) for minute in range(0, 50, 10)]
    # Five solves in one hour at once: every transaction adds to the same rows of that hour.
    await asyncio.gather(*(s.status(ticket_id, msk(16, 11, 5), "solved") for ticket_id in made))
    async with runtime.db.uow() as uow:
        kept = await rollups.stored_rows(uow.session)
        assert kept == await rollups.recounted_rows(uow.session)
    assert kept[("solve", "team", rollups.hour_start(msk(16, 11)), str(desk.support.id))][0] == 5
    assert kept[("created", "total", rollups.hour_start(msk(16, 10)), "")][0] == 5
