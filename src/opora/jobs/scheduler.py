"""Periodic schedules: one ``job_schedules`` row per periodic task, shared by every process.

Advancing ``next_run_at`` (a compare-and-set) and enqueueing the run share one transaction, so
among any number of processes exactly one wins each run, and a crash in between loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from opora.db import Database
from opora.jobs import repository, service
from opora.jobs.registry import Registry

log = logging.getLogger(__name__)


async def ensure_schedules(db: Database, registry: Registry, *, now: datetime) -> None:
    specs = sorted(registry.schedules.values(), key=lambda spec: spec.name)
    if not specs:
        return
    async with db.uow() as uow:
        for spec in specs:
            await repository.upsert_schedule(
                uow.session, name=spec.name, interval_seconds=spec.interval_seconds, now=now
            )


async def fire_due(db: Database, registry: Registry, *, now: datetime) -> int:
    """Enqueue every due periodic task of ``registry``; returns how many schedules this call advanced."""
    names = sorted(registry.schedules)
    if not names:
        return 0
    fired = 0
    async with db.uow() as uow:
        # Ordered by name and locked with SKIP LOCKED: concurrent schedulers neither deadlock nor wait.
        for name, interval, due_at in await repository.lock_due_schedules(uow.session, names=names, now=now):
            following = next_run_after(due_at, interval, now)
            if not await repository.advance_schedule(
                uow.session, name=name, expected=due_at, next_run_at=following
            ):
                continue
            fired += 1
            job_id = await service.enqueue(
                uow,
                name,
                {"scheduled_for": due_at.isoformat()},
                # Skip a run while the previous one is still waiting or running: no pile-up.
                unique_key=f"schedule:{name}",
                run_at=now,
                registry=registry,
            )
            if job_id is None:
                log.info("periodic run skipped: the previous one is still active", extra={"task": name})
    return fired


async def run_forever(
    db: Database, registry: Registry, clock: Callable[[], datetime], *, every: float
) -> None:
    while True:
        try:
            await fire_due(db, registry, now=clock())
        except Exception:
            log.exception("firing schedules failed")
        await asyncio.sleep(every)


def next_run_after(due_at: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The first tick of the schedule after ``now``: after downtime it fires once, not once per miss."""
    interval = timedelta(seconds=interval_seconds)
    missed = max(0, (now - due_at) // interval)
    return due_at + interval * (missed + 1)
