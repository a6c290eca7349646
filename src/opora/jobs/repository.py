"""All SQL of the job queue and the schedules.

Every state change of a claimed job is fenced: it names the worker and the attempt number that
claimed it and re-checks ``state = 'running'``. A worker whose lease expired (and whose job was
handed to someone else) therefore cannot finish, reschedule or bury the job a second time.

Timestamps are bound from Python (the caller's clock) instead of the database's ``now()``:
SQLite stores them as text in its own format, so comparisons only work against values written
through the same column type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Delete,
    Table,
    Update,
    case,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opora.db import UTCDateTime
from opora.jobs.models import Job, JobState, Schedule

NOTIFY_CHANNEL = "opora_jobs"

jobs = cast(Table, Job.__table__)
schedules = cast(Table, Schedule.__table__)

# Must match the partial unique index uq_jobs_active_unique_key exactly, so that both SQLite and
# PostgreSQL accept it as the ON CONFLICT target.
_ACTIVE_SQL = text("state IN ('queued', 'running')")
_QUEUED = JobState.QUEUED.value
_RUNNING = JobState.RUNNING.value
_DONE = JobState.DONE.value
_DEAD = JobState.DEAD.value


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    task: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    unique_key: str | None


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    # Both databases spell ON CONFLICT alike; only SQLAlchemy's statement classes differ.
    return pg_insert(table) if is_postgres(session) else sqlite_insert(table)


# -- enqueue -------------------------------------------------------------------------------------


async def insert_job(
    session: AsyncSession,
    *,
    task: str,
    payload: dict[str, Any],
    unique_key: str | None,
    run_at: datetime,
    max_attempts: int,
    now: datetime,
) -> int | None:
    """Insert a queued job; ``None`` when an active job already holds ``unique_key``."""
    values = {
        "task": task,
        "payload": payload,
        "state": _QUEUED,
        "unique_key": unique_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at,
        "created_at": now,
    }
    stmt = _insert(session, jobs).values(values)
    if unique_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[jobs.c.unique_key], index_where=_ACTIVE_SQL)
    result = await session.execute(stmt.returning(jobs.c.id))
    job_id: int | None = result.scalar_one_or_none()
    return job_id


async def bring_forward(session: AsyncSession, *, unique_key: str, run_at: datetime) -> int | None:
    """Make the queued job holding ``unique_key`` due at ``run_at`` if it was due later; its id,
    or ``None`` when no queued job was due later (a running one is left alone)."""
    stmt = (
        update(jobs)
        .where(jobs.c.unique_key == unique_key, jobs.c.state == _QUEUED, jobs.c.run_at > run_at)
        .values(run_at=run_at)
        .returning(jobs.c.id)
    )
    moved: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return moved


async def notify_workers(session: AsyncSession) -> None:
    """PostgreSQL delivers this only if the surrounding transaction commits, and folds repeats."""
    if is_postgres(session):
        await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))


# -- claiming and leases -------------------------------------------------------------------------


async def claim_batch(
    session: AsyncSession, *, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedJob]:
    """Atomically take up to ``limit`` ready jobs.

    On PostgreSQL ``SKIP LOCKED`` lets concurrent workers take disjoint batches without waiting;
    SQLite ignores it and serialises writers instead (BEGIN IMMEDIATE), which is just as safe.
    """
    ready = jobs.alias("ready")
    # A CTE, not `id IN (subquery)`: PostgreSQL may run an IN-subquery with SKIP LOCKED more than
    # once during the UPDATE, each run skipping the rows the previous one locked, and so claim
    # more than `limit` jobs. A locking CTE is evaluated once.
    pick = (
        select(ready.c.id)
        .where(ready.c.state == _QUEUED, ready.c.run_at <= now)
        .order_by(ready.c.run_at, ready.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(select(pick.c.id)), jobs.c.state == _QUEUED)
        .values(state=_RUNNING, attempts=jobs.c.attempts + 1, locked_by=worker_id, lease_until=lease_until)
        .returning(
            jobs.c.id,
            jobs.c.task,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.unique_key,
        )
    )
    rows = (await session.execute(stmt)).all()
    claimed = [
        ClaimedJob(r.id, r.task, dict(r.payload or {}), r.attempts, r.max_attempts, r.unique_key)
        for r in rows
    ]
    return sorted(claimed, key=lambda job: job.id)


async def extend_leases(
    session: AsyncSession, *, worker_id: str, job_ids: Sequence[int], lease_until: datetime
) -> set[int]:
    """Renew the leases this worker still holds; the ids missing from the answer were lost."""
    if not job_ids:
        return set()
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.state == _RUNNING, jobs.c.locked_by == worker_id)
        .values(lease_until=lease_until)
        .returning(jobs.c.id)
    )
    return set((await session.execute(stmt)).scalars().all())


async def recover_expired(session: AsyncSession, *, now: datetime, limit: int = 500) -> tuple[int, int]:
    """Give jobs whose worker stopped renewing its lease back to the queue (or bury them).

    Returns ``(requeued, buried)``. A job whose attempts are used up is buried rather than rerun:
    a payload that kills the worker every time must not take the queue down forever.
    """
    reason = literal("lease expired: worker ") + func.coalesce(jobs.c.locked_by, "?") + " stopped renewing"
    requeued = await _update_expired(
        session,
        now=now,
        limit=limit,
        exhausted=False,
        values={
            "state": _QUEUED,
            "run_at": now,
            "lease_until": None,
            "locked_by": None,
            "last_error": reason,
        },
    )
    buried = await _update_expired(
        session,
        now=now,
        limit=limit,
        exhausted=True,
        values={"state": _DEAD, "finished_at": now, "lease_until": None, "last_error": reason},
    )
    return requeued, buried


async def _update_expired(
    session: AsyncSession, *, now: datetime, limit: int, exhausted: bool, values: dict[str, Any]
) -> int:
    stale = jobs.alias("stale")
    used_up = stale.c.attempts >= stale.c.max_attempts
    pick = (
        select(stale.c.id)
        .where(stale.c.state == _RUNNING, stale.c.lease_until < now, used_up if exhausted else ~used_up)
        .limit(limit)
        # Two reapers must not deadlock on each other or wait behind a worker finishing a job.
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(pick), jobs.c.state == _RUNNING, jobs.c.lease_until < now)
        .values(values)
        .returning(jobs.c.id)
    )
    return len((await session.execute(stmt)).all())


@dataclass(frozen=True)
class Fence:
    """Who may still change a claimed job: the claiming worker, for that one attempt."""

    job_id: int
    worker_id: str
    attempt: int


async def _run_fenced(session: AsyncSession, stmt: Update, fence: Fence) -> bool:
    stmt = stmt.where(
        jobs.c.id == fence.job_id,
        jobs.c.state == _RUNNING,
        jobs.c.locked_by == fence.worker_id,
        jobs.c.attempts == fence.attempt,
    )
    return (await session.execute(stmt.returning(jobs.c.id))).scalar_one_or_none() is not None


async def complete(session: AsyncSession, fence: Fence, *, now: datetime) -> bool:
    stmt = update(jobs).values(state=_DONE, finished_at=now, lease_until=None)
    return await _run_fenced(session, stmt, fence)


async def reschedule(session: AsyncSession, fence: Fence, *, run_at: datetime, error: str) -> bool:
    stmt = update(jobs).values(
        state=_QUEUED, run_at=run_at, last_error=error, lease_until=None, locked_by=None
    )
    return await _run_fenced(session, stmt, fence)


async def bury(session: AsyncSession, fence: Fence, *, error: str, now: datetime) -> bool:
    """Move a job to the dead letters; ``locked_by`` stays to show where it last ran."""
    stmt = update(jobs).values(state=_DEAD, last_error=error, finished_at=now, lease_until=None)
    return await _run_fenced(session, stmt, fence)


async def release(session: AsyncSession, *, worker_id: str, now: datetime) -> list[int]:
    """On shutdown, hand unfinished jobs back at once instead of waiting for their leases."""
    stmt = (
        update(jobs)
        .where(jobs.c.state == _RUNNING, jobs.c.locked_by == worker_id)
        .values(state=_QUEUED, run_at=now, lease_until=None, locked_by=None)
        .returning(jobs.c.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def complete_queued(session: AsyncSession, *, unique_keys: Sequence[str], now: datetime) -> int:
    pick = (
        select(jobs.c.id)
        .where(jobs.c.unique_key.in_(list(unique_keys)), jobs.c.state == _QUEUED)
        .order_by(jobs.c.id)
        # A job a worker is claiming right now is left to run; its handler must be idempotent anyway.
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(pick), jobs.c.state == _QUEUED)
        .values(state=_DONE, finished_at=now)
        .returning(jobs.c.id)
    )
    return len((await session.execute(stmt)).all())


# -- admin ---------------------------------------------------------------------------------------


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    return await session.get(Job, job_id)


async def has_active_with_key(session: AsyncSession, unique_key: str, *, other_than: int) -> bool:
    stmt = select(jobs.c.id).where(
        jobs.c.unique_key == unique_key, jobs.c.state.in_([_QUEUED, _RUNNING]), jobs.c.id != other_than
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def requeue_dead(session: AsyncSession, *, job_id: int, now: datetime) -> bool:
    """Give a dead job a fresh set of attempts; ``last_error`` stays until it fails again."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == _DEAD)
        .values(state=_QUEUED, attempts=0, run_at=now, finished_at=None, lease_until=None, locked_by=None)
        .returning(jobs.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def list_jobs(
    session: AsyncSession, *, state: str | None, task: str | None, before_id: int | None, limit: int
) -> list[Job]:
    stmt = select(Job)
    if state is not None:
        stmt = stmt.where(Job.state == state)
    if task is not None:
        stmt = stmt.where(Job.task == task)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    return list((await session.scalars(stmt.order_by(Job.id.desc()).limit(limit))).all())


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    stmt = select(jobs.c.state, func.count()).group_by(jobs.c.state)
    return {state: int(count) for state, count in (await session.execute(stmt)).all()}


async def oldest_ready_run_at(session: AsyncSession, *, now: datetime) -> datetime | None:
    stmt = select(func.min(jobs.c.run_at)).where(jobs.c.state == _QUEUED, jobs.c.run_at <= now)
    value = (await session.execute(stmt)).scalar_one_or_none()
    return cast("datetime | None", value)


async def purge_done(session: AsyncSession, *, cutoff: datetime, limit: int) -> int:
    old = jobs.alias("old")
    pick = (
        select(old.c.id)
        # A job finishes after it became due, so run_at < cutoff holds for every row we delete;
        # saying it lets the (state, run_at) index narrow the scan on a huge table.
        .where(old.c.state == _DONE, old.c.run_at < cutoff, old.c.finished_at < cutoff)
        .limit(limit)
    )
    stmt: Delete = delete(jobs).where(jobs.c.id.in_(pick))
    result = cast(CursorResult[Any], await session.execute(stmt))
    return int(result.rowcount)


# -- schedules -----------------------------------------------------------------------------------


async def upsert_schedule(session: AsyncSession, *, name: str, interval_seconds: int, now: datetime) -> None:
    """Create a schedule due at once, or adopt a changed interval without firing twice."""
    soonest = literal(now + timedelta(seconds=interval_seconds), UTCDateTime())
    values = {"name": name, "interval_seconds": interval_seconds, "next_run_at": now}
    changed_interval = schedules.c.interval_seconds != interval_seconds
    # A shorter new interval must not leave the next run where the old, longer one put it.
    next_run: ColumnElement[Any] = case(
        (schedules.c.next_run_at > soonest, soonest), else_=schedules.c.next_run_at
    )
    update_values = {"interval_seconds": interval_seconds, "next_run_at": next_run}
    stmt = _insert(session, schedules).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[schedules.c.name], set_=update_values, where=changed_interval
        )
    )


async def lock_due_schedules(
    session: AsyncSession, *, names: Sequence[str], now: datetime
) -> list[tuple[str, int, datetime]]:
    """Due schedules among ``names``, locked so that a concurrent scheduler skips them."""
    if not names:
        return []
    stmt = (
        select(schedules.c.name, schedules.c.interval_seconds, schedules.c.next_run_at)
        .where(schedules.c.name.in_(list(names)), schedules.c.next_run_at <= now)
        .order_by(schedules.c.name)
        .with_for_update(skip_locked=True)
    )
    return [(r.name, int(r.interval_seconds), r.next_run_at) for r in (await session.execute(stmt)).all()]


async def advance_schedule(
    session: AsyncSession, *, name: str, expected: datetime, next_run_at: datetime
) -> bool:
    """Compare-and-set: only the process that still sees ``expected`` moves the schedule on."""
    stmt = (
        update(schedules)
        .where(schedules.c.name == name, schedules.c.next_run_at == expected)
        .values(next_run_at=next_run_at)
        .returning(schedules.c.name)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None
