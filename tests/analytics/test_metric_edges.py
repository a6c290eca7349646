"""Metric edges on hand-built tickets: a reopen in a later week, a solved ticket merged away, and a
ticket on hold, with answers worked out by hand. API tickets have no SLA policy (calendar time);
email tickets get office hours (Mon-Fri 09:00-18:00 Moscow).

- A api: created Mon 16 10:00, replied 10:30, solved 11:00; reopened Tue 24 10:00, solved 12:00.
- B api: created Mon 16 10:00, replied 10:30, solved 11:00, merged into A on Wed 18 at 10:00.
- C email: created Thu 19 10:00, replied 10:10, on hold 10:20-16:20, solved 16:50: 50 minutes of
  resolution (the hold does not count), first response 10 minutes.
"""

from __future__ import annotations

import pytest

from opora.analytics import service
from opora.analytics.definitions import Filters, Metric
from opora.analytics.service import ReportQuery
from opora.runtime import Runtime
from tests.analytics.scenario import Scenario, msk

TZ = "Europe/Moscow"
WEEK1 = (msk(16, 0), msk(23, 0))
WEEK2 = (msk(23, 0), msk(30, 0))
BOTH = (msk(16, 0), msk(30, 0))


@pytest.fixture
async def tickets(runtime: Runtime) -> dict[str, int]:
    s = Scenario(runtime)
    await s.office_hours_policy()
    a = await s.ticket(msk(16, 10), channel="api")
    await s.reply(a, msk(16, 10, 30))
    await s.status(a, msk(16, 11), "solved")
    b = await s.ticket(msk(16, 10), channel="api")
    await s.reply(b, msk(16, 10, 30))
    await s.status(b, msk(16, 11), "solved")
    await s.merge(b, a, msk(18, 10))
    c = await s.ticket(msk(19, 10))
    await s.reply(c, msk(19, 10, 10))
    await s.status(c, msk(19, 10, 20), "on_hold")
    await s.status(c, msk(19, 16, 20), "open")
    await s.status(c, msk(19, 16, 50), "solved")
    await s.status(a, msk(24, 10), "open")
    await s.status(a, msk(24, 12), "solved")
    return {"a": a, "b": b, "c": c}


async def total(runtime: Runtime, metric: Metric, span: tuple[object, object]) -> service.Stats:
    async with runtime.db.uow() as uow:
        query = ReportQuery(metric, span[0], span[1], filters=Filters())  # type: ignore[arg-type]
        return (await service.report(uow, query, timezone=TZ, now=msk(30, 0))).total


async def tickets_behind(
    runtime: Runtime, metric: Metric, span: tuple[object, object], ok: bool | None
) -> list[int]:
    async with runtime.db.uow() as uow:
        query = ReportQuery(metric, span[0], span[1])  # type: ignore[arg-type]
        return await service.drill_down(uow, query, key=None, ok=ok, timezone=TZ, now=msk(30, 0))


async def test_a_reopen_in_a_later_week_counts_the_solve_in_each_week_and_once_in_both(
    runtime: Runtime, tickets: dict[str, int]
) -> None:
    a, c = tickets["a"], tickets["c"]
    assert await tickets_behind(runtime, Metric.SOLVED, WEEK1, None) == [c, a]
    assert await tickets_behind(runtime, Metric.SOLVED, WEEK2, None) == [a]
    assert await tickets_behind(runtime, Metric.SOLVED, BOTH, None) == [c, a]
    first = await total(runtime, Metric.RESOLUTION, WEEK1)
    assert first.count == 2 and sorted([first.median, first.average]) == [pytest.approx(3300)] * 2
    second = await total(runtime, Metric.RESOLUTION, WEEK2)
    assert second.average == pytest.approx((8 * 24 + 2) * 3600)  # created to the final solve
    # Reopened at any time: the week-1 solve is a reopened ticket seen from today.
    assert await tickets_behind(runtime, Metric.REOPEN, WEEK1, True) == [a]
    # The week-1 solve was a first-contact resolution; the week-2 one came after a reopen.
    assert await tickets_behind(runtime, Metric.FCR, WEEK1, True) == [c, a]
    assert await tickets_behind(runtime, Metric.FCR, WEEK2, False) == [a]


async def test_a_solved_ticket_merged_away_is_no_longer_a_solve(
    runtime: Runtime, tickets: dict[str, int]
) -> None:
    assert tickets["b"] not in await tickets_behind(runtime, Metric.SOLVED, WEEK1, None)
    assert (await total(runtime, Metric.CREATED, WEEK1)).count == 3
    # Its first response still happened.
    assert (await total(runtime, Metric.FIRST_RESPONSE, WEEK1)).count == 3


async def test_time_on_hold_is_not_resolution_time(runtime: Runtime, tickets: dict[str, int]) -> None:
    async with runtime.db.uow() as uow:
        query = ReportQuery(Metric.RESOLUTION, *WEEK1, filters=Filters(channel_types=("email",)))
        stats = (await service.report(uow, query, timezone=TZ, now=msk(30, 0))).total
    assert stats.count == 1 and stats.average == pytest.approx(3000)
    sla = await total(runtime, Metric.SLA_RESOLUTION, WEEK1)
    assert (sla.count, sla.hits) == (1, 1)
