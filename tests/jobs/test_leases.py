"""Leases: expiry, fencing of a worker that lost its job, heartbeats, graceful shutdown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from opora.db import Database
from opora.jobs import repository
from opora.jobs.models import Job, JobState
from opora.jobs.registry import JobContext, Registry
from opora.jobs.service import enqueue
from opora.jobs.worker import Worker
from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.jobs.helpers import effects, job_row, wait_until
from tests.jobs.worker_proc import record_effect


async def _expire_lease(db: Database, job_id: int) -> None:
    async with db.uow() as uow:
        past = utcnow() - timedelta(seconds=1)
        await uow.session.execute(update(Job).where(Job.id == job_id).values(lease_until=past))


async def test_fencing_rejects_a_worker_whose_lease_was_taken_over(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.any", {}, max_attempts=5)
    assert job_id is not None
    now = utcnow()
    lease = now + timedelta(seconds=60)
    async with runtime.db.uow() as uow:
        [claimed] = await repository.claim_batch(
            uow.session, worker_id="a", limit=1, now=now, lease_until=lease
        )
    assert claimed.attempts == 1
    await _expire_lease(runtime.db, job_id)
    async with runtime.db.uow() as uow:
        assert await repository.recover_expired(uow.session, now=utcnow()) == (1, 0)
        [again] = await repository.claim_batch(
            uow.session, worker_id="b", limit=1, now=utcnow(), lease_until=lease
        )
    assert again.attempts == 2
    stale = repository.Fence(job_id, "a", 1)
    async with runtime.db.uow() as uow:
        assert not await repository.complete(uow.session, stale, now=utcnow())
        assert not await repository.reschedule(uow.session, stale, run_at=utcnow(), error="x")
        assert not await repository.bury(uow.session, stale, error="x", now=utcnow())
        assert (
            await repository.extend_leases(uow.session, worker_id="a", job_ids=[job_id], lease_until=lease)
            == set()
        )
        assert await repository.complete(uow.session, repository.Fence(job_id, "b", 2), now=utcnow())
    job = await job_row(runtime.db, job_id)
    assert (job.state, job.attempts, job.locked_by) == (JobState.DONE, 2, "b")


async def test_stalled_worker_cannot_commit_after_its_job_was_rerun(
    runtime: Runtime, registry: Registry, effects_table: None
) -> None:
    release = asyncio.Event()

    @registry.task("t.stall")
    async def stall(ctx: JobContext, payload: dict[str, Any]) -> None:
        if ctx.attempt == 1:
            await release.wait()  # e.g. a long GC pause or a hung network call
        await record_effect(ctx)

    stalled = Worker(runtime, concurrency=1, registry=registry, worker_id="stalled")
    rescuer = Worker(runtime, concurrency=1, registry=registry, worker_id="rescuer")
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.stall", {}, registry=registry)
    assert job_id is not None
    first_run = asyncio.create_task(stalled.run_until_idle(max_jobs=1))

    async def running() -> bool:
        return (await job_row(runtime.db, job_id)).state == JobState.RUNNING

    await wait_until(running, timeout=5, what="the first attempt")
    await _expire_lease(runtime.db, job_id)
    assert await rescuer.run_until_idle() == 1
    release.set()
    await first_run
    job = await job_row(runtime.db, job_id)
    assert (job.state, job.attempts, job.locked_by) == (JobState.DONE, 2, "rescuer")
    assert await effects(runtime.db) == [(job_id, 2, "rescuer")]


async def test_heartbeat_renews_leases_and_interrupts_a_lost_job(
    runtime: Runtime, registry: Registry
) -> None:
    started = asyncio.Event()

    @registry.task("t.long")
    async def long(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)

    worker = Worker(runtime, concurrency=1, registry=registry, lease_seconds=60)
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.long", {}, registry=registry)
    assert job_id is not None
    run = asyncio.create_task(worker.run_until_idle(max_jobs=1))
    await asyncio.wait_for(started.wait(), 5)
    lease_before = (await job_row(runtime.db, job_id)).lease_until
    await asyncio.sleep(0.01)
    await worker.renew_leases()
    lease_after = (await job_row(runtime.db, job_id)).lease_until
    assert lease_before is not None
    assert lease_after is not None
    assert lease_after > lease_before

    await _expire_lease(runtime.db, job_id)
    async with runtime.db.uow() as uow:
        await repository.recover_expired(uow.session, now=utcnow())
    await worker.renew_leases()  # notices the job is no longer its own and interrupts it
    await asyncio.wait_for(run, 5)
    job = await job_row(runtime.db, job_id)
    assert (job.state, job.locked_by) == (JobState.QUEUED, None)
    assert "lease expired" in (job.last_error or "")


async def test_expired_lease_with_no_attempts_left_goes_dead(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.poison", {}, max_attempts=1)
    assert job_id is not None
    now = utcnow()
    async with runtime.db.uow() as uow:
        await repository.claim_batch(
            uow.session, worker_id="w", limit=1, now=now, lease_until=now + timedelta(seconds=60)
        )
    await _expire_lease(runtime.db, job_id)
    async with runtime.db.uow() as uow:
        assert await repository.recover_expired(uow.session, now=utcnow()) == (0, 1)
    job = await job_row(runtime.db, job_id)
    assert job.state == JobState.DEAD
    assert "lease expired: worker w stopped renewing" in (job.last_error or "")


async def test_graceful_stop_finishes_or_releases_running_jobs(runtime: Runtime, registry: Registry) -> None:
    @registry.task("t.nap")
    async def nap(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(payload["seconds"])

    async def state_of(job_id: int) -> str:
        return (await job_row(runtime.db, job_id)).state

    for seconds, grace, expected in ((0.3, 10.0, JobState.DONE), (30, 0.2, JobState.QUEUED)):
        worker = Worker(runtime, concurrency=1, registry=registry, poll_seconds=0.05)
        await worker.start()
        async with runtime.db.uow() as uow:
            job_id = await enqueue(uow, "t.nap", {"seconds": seconds}, registry=registry)
        assert job_id is not None

        async def running(job_id: int = job_id) -> bool:
            return await state_of(job_id) == JobState.RUNNING

        await wait_until(running, timeout=5, what="the job to start")
        await worker.stop(grace_seconds=grace)
        job = await job_row(runtime.db, job_id)
        assert job.state == expected
        if expected == JobState.QUEUED:  # handed back at once, not after the lease
            assert (job.locked_by, job.lease_until, job.attempts) == (None, None, 1)
