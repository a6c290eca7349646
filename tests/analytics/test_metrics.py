"""Every metric against a hand-built week whose answers were worked out by hand.

The week of Monday 16 March 2026 (Moscow). Email tickets have office-hours targets (Mon-Fri
09:00-18:00), API tickets no SLA policy, so their times are calendar time:

- T1 email, created Fri 13th 17:30, replied Mon 09:20, solved Mon 10:00: first response 50 min of
  office time (30 + 20), resolution 90 min (30 on Friday, 60 on Monday).
- T2 email, created Mon 10:00, replied 10:10, pending 10:30-14:00, customer writes 14:00, replied
  14:30, solved 15:00: first response 10 min, next response 30 min, resolution 90 min (the
  pending hours do not count); two replies, so not a first-contact resolution.
- T3 email, created Tue 10:00, replied 11:20 (late: target 60 min), solved 11:30, reopened 12:00,
  solved 12:30: first response 80 min, resolution 120 min (90 + 30), reopened.
- T4 api (VIP customer), created Tue 10:00, replied 11:00, solved 12:00: 60 and 120 min of
  calendar time; handed off by the bot at 10:05.
- T5 email, created Wed 10:00, merged into T4 at 10:30: created, never solved.
- T6 api, created Wed 11:00, escalated 11:30, still open; resolved by the bot at 11:10.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from opora.analytics import service
from opora.analytics.definitions import Dimension, Filters, Metric
from opora.analytics.service import ReportQuery
from opora.runtime import Runtime
from tests.analytics.scenario import Scenario, msk

START = msk(16, 0)
END = msk(23, 0)
NOW = msk(23, 0)
TZ = "Europe/Moscow"


@pytest.fixture
async def week(runtime: Runtime) -> dict[str, int]:
    s = Scenario(runtime)
    await s.office_hours_policy()
    t1 = await s.ticket(msk(13, 17, 30), topic="delivery")
    await s.reply(t1, msk(16, 9, 20))
    await s.status(t1, msk(16, 10), "solved")

    t2 = await s.ticket(msk(16, 10), topic="delivery")
    await s.reply(t2, msk(16, 10, 10))
    await s.status(t2, msk(16, 10, 30), "pending")
    await s.status(t2, msk(16, 14), "open")
    await s.customer_writes(t2, msk(16, 14))
    await s.reply(t2, msk(16, 14, 30))
    await s.reply(t2, msk(16, 14, 40), internal=True)
    await s.status(t2, msk(16, 15), "solved")

    t3 = await s.ticket(msk(17, 10), topic="payment", priority="high")
    await s.reply(t3, msk(17, 11, 20))
    await s.status(t3, msk(17, 11, 30), "solved")
    await s.status(t3, msk(17, 12), "open")
    await s.status(t3, msk(17, 12, 30), "solved")

    t4 = await s.ticket(msk(17, 10), channel="api", segment="vip", topic="payment")
    await s.event(t4, msk(17, 10, 5), "bot_handoff")
    await s.reply(t4, msk(17, 11))
    await s.status(t4, msk(17, 12), "solved")

    t5 = await s.ticket(msk(18, 10))
    await s.merge(t5, t4, msk(18, 10, 30))

    t6 = await s.ticket(msk(18, 11), channel="api")
    await s.event(t6, msk(18, 11, 10), "bot_resolved")
    await s.event(t6, msk(18, 11, 30), "escalated", {"reason": "L2"})
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5, "t6": t6}


async def run(
    runtime: Runtime, metric: Metric, dimension: Dimension = Dimension.TOTAL, **filters: tuple[object, ...]
) -> service.Report:
    async with runtime.db.uow() as uow:
        return await service.report(
            uow,
            ReportQuery(metric, START, END, dimension, Filters(**filters)),  # type: ignore[arg-type]
            timezone=TZ,
            now=NOW,
        )


async def drill(
    runtime: Runtime,
    metric: Metric,
    *,
    dimension: Dimension = Dimension.TOTAL,
    key: str | None = None,
    ok: bool | None = None,
    start: datetime = START,
) -> list[int]:
    async with runtime.db.uow() as uow:
        return await service.drill_down(
            uow, ReportQuery(metric, start, END, dimension), key=key, ok=ok, timezone=TZ, now=NOW
        )


async def test_first_response_time_counts_office_hours_where_the_sla_does(
    runtime: Runtime, week: dict[str, int]
) -> None:
    total = (await run(runtime, Metric.FIRST_RESPONSE)).total
    # 50, 10, 80 min of office time; 60 min of calendar time for the API ticket.
    assert total.count == 4
    assert total.average == pytest.approx((3000 + 600 + 4800 + 3600) / 4)
    assert total.median == pytest.approx((3000 + 3600) / 2)
    assert total.p90 == pytest.approx(3600 + 0.7 * 1200)
    by_channel = {r.key: r for r in (await run(runtime, Metric.FIRST_RESPONSE, Dimension.CHANNEL)).rows}
    assert by_channel["email"].count == 3 and by_channel["email"].median == pytest.approx(3000)
    assert by_channel["api"].average == pytest.approx(3600)
    assert await drill(runtime, Metric.FIRST_RESPONSE, dimension=Dimension.CHANNEL, key="email") == [
        week["t3"],
        week["t2"],
        week["t1"],
    ]


async def test_next_response_time_excludes_nothing_but_waiting_for_the_customer(
    runtime: Runtime, week: dict[str, int]
) -> None:
    total = (await run(runtime, Metric.NEXT_RESPONSE)).total
    assert total.count == 1 and total.average == pytest.approx(1800)
    assert await drill(runtime, Metric.NEXT_RESPONSE) == [week["t2"]]


async def test_full_resolution_time_skips_pauses_and_time_spent_solved(
    runtime: Runtime, week: dict[str, int]
) -> None:
    report = await run(runtime, Metric.RESOLUTION)
    assert report.total.count == 4  # the merged ticket is not a resolution
    assert report.total.average == pytest.approx((5400 + 5400 + 7200 + 7200) / 4)
    assert report.total.median == pytest.approx(6300)
    solved = await run(runtime, Metric.SOLVED)
    assert solved.total.count == 4
    assert set(await drill(runtime, Metric.SOLVED)) == {week["t1"], week["t2"], week["t3"], week["t4"]}


async def test_reopened_ticket_counts_once_and_is_no_first_contact_resolution(
    runtime: Runtime, week: dict[str, int]
) -> None:
    fcr = (await run(runtime, Metric.FCR)).total
    assert (fcr.count, fcr.hits) == (4, 2)
    assert fcr.rate == pytest.approx(0.5)
    assert await drill(runtime, Metric.FCR, ok=True) == [week["t4"], week["t1"]]
    reopen = (await run(runtime, Metric.REOPEN)).total
    assert (reopen.count, reopen.hits) == (4, 1)
    assert await drill(runtime, Metric.REOPEN, ok=True) == [week["t3"]]


async def test_sla_compliance_per_target(runtime: Runtime, week: dict[str, int]) -> None:
    first = (await run(runtime, Metric.SLA_FIRST_RESPONSE)).total
    # T1, T2 on time, T3 late; the merged ticket's clock ended by the merge, not by a reply.
    assert (first.count, first.hits) == (3, 2)
    assert await drill(runtime, Metric.SLA_FIRST_RESPONSE, ok=False) == [week["t3"]]
    resolution = (await run(runtime, Metric.SLA_RESOLUTION)).total
    assert (resolution.count, resolution.hits) == (4, 4)  # T3's clock ran twice, both on time
    nxt = (await run(runtime, Metric.SLA_NEXT_RESPONSE)).total
    assert (nxt.count, nxt.hits) == (1, 1)


async def test_created_escalation_backlog_and_bot(runtime: Runtime, week: dict[str, int]) -> None:
    created = await run(runtime, Metric.CREATED, Dimension.DAY)
    assert created.total.count == 5
    assert created.previous is not None and created.previous.count == 1  # T1, the Friday before
    assert [(r.key, r.count) for r in created.rows] == [
        ("2026-03-16T00:00", 1),
        ("2026-03-17T00:00", 2),
        ("2026-03-18T00:00", 2),
        ("2026-03-19T00:00", 0),
        ("2026-03-20T00:00", 0),
        ("2026-03-21T00:00", 0),
        ("2026-03-22T00:00", 0),
    ]
    assert await drill(runtime, Metric.CREATED, dimension=Dimension.DAY, key="2026-03-17T00:00") == [
        week["t4"],
        week["t3"],
    ]
    escalation = (await run(runtime, Metric.ESCALATION)).total
    assert (escalation.count, escalation.hits) == (5, 1)
    backlog = await run(runtime, Metric.BACKLOG)
    assert backlog.total.count == 1 and backlog.previous is None
    assert backlog.total.average == pytest.approx((NOW - msk(18, 11)).total_seconds())
    bot = (await run(runtime, Metric.BOT_RESOLUTION)).total
    assert (bot.count, bot.hits) == (2, 1)
    handoff = await drill(runtime, Metric.BOT_HANDOFF, ok=True)
    assert handoff == [week["t4"]]


async def test_slices_and_filters(runtime: Runtime, week: dict[str, int]) -> None:
    by_segment = {r.key: r.count for r in (await run(runtime, Metric.FIRST_RESPONSE, Dimension.SEGMENT)).rows}
    assert by_segment == {None: 3, "vip": 1}
    by_topic = {r.key: r.count for r in (await run(runtime, Metric.RESOLUTION, Dimension.TOPIC)).rows}
    assert by_topic == {"delivery": 2, "payment": 2}
    high = await run(runtime, Metric.RESOLUTION, priorities=("high",))
    assert high.total.count == 1 and high.total.average == pytest.approx(7200)
    weekly = await run(runtime, Metric.RESOLUTION, Dimension.WEEK)
    assert [(r.key, r.count) for r in weekly.rows] == [("2026-03-16T00:00", 4)]
    hourly = await run(runtime, Metric.CREATED, Dimension.HOUR)
    assert len(hourly.rows) == 7 * 24 and sum(r.count for r in hourly.rows) == 5
