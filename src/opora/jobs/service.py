"""Use cases of the job queue: enqueue from any transaction, and the admin view of the queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from opora.db import UnitOfWork
from opora.jobs import repository
from opora.jobs.models import Job, JobState
from opora.jobs.registry import DEFAULT_MAX_ATTEMPTS, Registry, autodiscover, default_registry
from opora.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, encode_cursor
from opora.kit.time import utcnow

_NOTIFIED = "opora.jobs.notified"


async def enqueue(
    uow: UnitOfWork,
    task: str,
    payload: dict[str, Any],
    *,
    unique_key: str | None = None,
    run_at: datetime | None = None,
    delay: timedelta | None = None,
    max_attempts: int | None = None,
    registry: Registry | None = None,
    sooner: bool = False,
) -> int | None:
    """Add a job to the caller's transaction: it exists (and runs) only if that transaction commits.

    Returns the job id, or ``None`` when ``unique_key`` is held by a job that is still queued or
    running. ``max_attempts`` defaults to the task's registered value. With ``sooner``, a queued
    job holding ``unique_key`` that is due later than this one would be is brought forward to
    this one's time (its payload stays): for callers whose repeats do the same work, such as
    "retrain now" after an edit queued a retraining half a minute away.
    """
    if not task or len(task) > 100:
        raise ValueError("a task name must have 1 to 100 characters")
    if unique_key is not None and not 0 < len(unique_key) <= 300:
        raise ValueError("a unique key must have 1 to 300 characters")
    if run_at is not None and delay is not None:
        raise ValueError("give run_at or delay, not both")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        # Fail at the call site, not later in a worker where nobody sees the caller.
        raise TypeError(f"job payload for {task!r} is not JSON-serialisable: {exc}") from exc
    if max_attempts is None:
        max_attempts = _registered_max_attempts(task, registry)
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    now = utcnow()
    due = run_at if run_at is not None else now + (delay or timedelta(0))
    job_id = await repository.insert_job(
        uow.session,
        task=task,
        payload=payload,
        unique_key=unique_key,
        run_at=due,
        max_attempts=max_attempts,
        now=now,
    )
    if job_id is None:
        if not (sooner and unique_key is not None):
            return None
        job_id = await repository.bring_forward(uow.session, unique_key=unique_key, run_at=due)
        if job_id is None:
            return None
    # Delayed jobs are found by polling: waking a worker for one only costs it a claim that
    # finds nothing (each inbound chat message enqueues such a safety net, ADR 0040).
    if due <= now:
        uow.note_job_enqueued()
        # One NOTIFY per transaction is enough: PostgreSQL would fold the repeats anyway, and
        # each one is a round trip.
        if not uow.session.info.get(_NOTIFIED):
            await repository.notify_workers(uow.session)
            uow.session.info[_NOTIFIED] = True
    return job_id


async def complete_queued(uow: UnitOfWork, unique_keys: Sequence[str]) -> int:
    """Mark still-queued jobs done because the caller's transaction did their work (batching).

    Keys of jobs that are already running, finished or absent are ignored. Returns how many jobs
    were completed; they commit or roll back with the caller.
    """
    if not unique_keys:
        return 0
    return await repository.complete_queued(uow.session, unique_keys=unique_keys, now=utcnow())


def _registered_max_attempts(task: str, registry: Registry | None) -> int:
    spec = (registry if registry is not None else default_registry).get(task)
    if spec is None and registry is None:
        # A web process may enqueue a task whose module it never imported; load them all once.
        autodiscover()
        spec = default_registry.get(task)
    return spec.max_attempts if spec is not None else DEFAULT_MAX_ATTEMPTS


async def get_job(uow: UnitOfWork, job_id: int) -> Job:
    job = await repository.get_job(uow.session, job_id)
    if job is None:
        raise NotFound("No such job.", field="job_id")
    return job


async def retry_dead(uow: UnitOfWork, job_id: int) -> Job:
    """Put a dead job back in the queue with a fresh set of attempts (admin action)."""
    job = await get_job(uow, job_id)
    if job.state != JobState.DEAD:
        raise IllegalTransition("Only dead jobs can be retried.", state=job.state)
    if job.unique_key is not None and await repository.has_active_with_key(
        uow.session, job.unique_key, other_than=job.id
    ):
        raise Conflict("Another job with the same unique key is already waiting or running.")
    try:
        # A savepoint keeps the caller's transaction usable if a concurrent enqueue took the key.
        async with uow.session.begin_nested():
            requeued = await repository.requeue_dead(uow.session, job_id=job.id, now=utcnow())
    except IntegrityError as exc:
        raise Conflict("Another job with the same unique key is already waiting or running.") from exc
    if not requeued:
        raise IllegalTransition("Only dead jobs can be retried.")
    uow.note_job_enqueued()
    await repository.notify_workers(uow.session)
    await uow.session.refresh(job)
    return job


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


async def list_jobs(
    uow: UnitOfWork,
    *,
    state: str | None = None,
    task: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JobPage:
    """Newest first; ``state="dead"`` is the dead-letter view."""
    if state is not None and state not in {s.value for s in JobState}:
        raise InvalidInput(f"Unknown job state {state!r}.", field="state")
    limit = max(1, min(limit, MAX_LIMIT))
    before_id = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await repository.list_jobs(
        uow.session, state=state, task=task, before_id=before_id, limit=limit + 1
    )
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return JobPage(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int] = field(default_factory=dict)
    # Age of the oldest job that is due but not yet taken: the number to alert on.
    lag_seconds: float = 0.0


async def queue_stats(uow: UnitOfWork, *, now: datetime | None = None) -> QueueStats:
    now = now or utcnow()
    counts = {state.value: 0 for state in JobState}
    counts.update(await repository.count_by_state(uow.session))
    oldest = await repository.oldest_ready_run_at(uow.session, now=now)
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return QueueStats(counts=counts, lag_seconds=lag)
