"""Periodic schedules fire once per interval, however many workers run them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from opora.config import Settings
from opora.jobs.models import Schedule
from opora.jobs.registry import JobContext, Registry
from opora.jobs.scheduler import next_run_after
from opora.jobs.worker import Worker
from opora.kit.time import utcnow
from opora.runtime import Runtime, build_runtime
from tests.jobs.helpers import all_jobs


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def second_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Another engine on the same database: to the database it is another process."""
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        await rt.close()


def tick_task(registry: Registry, runs: list[str], every: timedelta) -> None:
    @registry.periodic("t.tick", every=every)
    async def tick(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append(payload["scheduled_for"])


async def schedule_row(runtime: Runtime) -> Schedule:
    async with runtime.db.uow() as uow:
        row = await uow.session.scalar(select(Schedule).where(Schedule.name == "t.tick"))
    assert row is not None
    return row


async def test_two_workers_fire_each_interval_once(
    runtime: Runtime, second_runtime: Runtime, registry: Registry
) -> None:
    runs: list[str] = []
    tick_task(registry, runs, timedelta(minutes=1))
    clock = FakeClock(utcnow())
    start = clock.now
    workers = [
        Worker(rt, concurrency=1, registry=registry, clock=clock, worker_id=f"w{i}")
        for i, rt in enumerate((runtime, second_runtime))
    ]
    await asyncio.gather(*(w.ensure_schedules() for w in workers))

    for _ in range(3):
        fired = await asyncio.gather(*(w.tick_schedules() for w in workers * 3))
        assert sum(fired) == 1
        assert sum(await asyncio.gather(*(w.tick_schedules() for w in workers))) == 0
        assert await workers[0].run_until_idle() + await workers[1].run_until_idle() == 1
        clock.advance(60)
    assert runs == [(start + timedelta(minutes=m)).isoformat() for m in range(3)]

    # After a long outage it fires once, and stays on the original grid.
    clock.advance(60 * 3.5)
    fired = await asyncio.gather(*(w.tick_schedules() for w in workers * 2))
    assert sum(fired) == 1
    assert (await schedule_row(runtime)).next_run_at == start + timedelta(minutes=7)
    assert len(await all_jobs(runtime.db)) == 4


async def test_running_workers_fire_on_schedule_without_doubles(
    runtime: Runtime, second_runtime: Runtime, registry: Registry
) -> None:
    runs: list[str] = []
    tick_task(registry, runs, timedelta(seconds=1))
    workers = [
        Worker(rt, concurrency=2, registry=registry, poll_seconds=0.1, worker_id=f"w{i}")
        for i, rt in enumerate((runtime, second_runtime))
    ]
    for worker in workers:
        await worker.start()
    try:
        await asyncio.sleep(2.6)
    finally:
        for worker in workers:
            await worker.stop()
    assert 2 <= len(runs) <= 4
    assert len(set(runs)) == len(runs)
    times = sorted(datetime.fromisoformat(r) for r in runs)
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(times))


async def test_changed_interval_takes_effect_without_double_firing(runtime: Runtime) -> None:
    clock = FakeClock(utcnow())
    hourly, every_minute = Registry(), Registry()
    tick_task(hourly, [], timedelta(hours=1))
    tick_task(every_minute, [], timedelta(minutes=1))

    old = Worker(runtime, concurrency=1, registry=hourly, clock=clock)
    await old.ensure_schedules()
    assert await old.tick_schedules() == 1
    assert (await schedule_row(runtime)).next_run_at == clock.now + timedelta(hours=1)

    clock.advance(10)
    new = Worker(runtime, concurrency=1, registry=every_minute, clock=clock)
    await new.ensure_schedules()
    row = await schedule_row(runtime)
    assert (row.interval_seconds, row.next_run_at) == (60, clock.now + timedelta(minutes=1))
    assert await new.tick_schedules() == 0
    # In a rolling deploy the last process to start sets the interval, but never delays a run.
    await old.ensure_schedules()
    row = await schedule_row(runtime)
    assert (row.interval_seconds, row.next_run_at) == (3600, clock.now + timedelta(minutes=1))


def test_next_run_after_skips_missed_ticks() -> None:
    due = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert next_run_after(due, 60, due) == due + timedelta(minutes=1)
    assert next_run_after(due, 60, due + timedelta(seconds=59)) == due + timedelta(minutes=1)
    assert next_run_after(due, 60, due + timedelta(minutes=5, seconds=1)) == due + timedelta(minutes=6)


def test_periodic_interval_must_be_whole_seconds() -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        Registry().periodic("t.x", every=timedelta(milliseconds=1500))
