"""The job worker: claims jobs with a lease, runs each in its own transaction, fires schedules.

A worker may die at any moment. Its jobs stay ``running`` until their lease runs out; then any
worker's reaper hands them back to the queue, and the fencing in the repository makes sure the
dead (or merely stalled) worker can no longer complete them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opora.jobs import repository, scheduler, wakeup
from opora.jobs.errors import JobTimeout, LeaseLost, PermanentFailure, RetryAfter, UnknownTask, format_error
from opora.jobs.registry import JobContext, Registry, TaskSpec, autodiscover, default_registry
from opora.jobs.repository import ClaimedJob
from opora.kit.time import utcnow
from opora.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 30.0


@dataclass
class _Running:
    job: ClaimedJob
    task: asyncio.Task[None]
    # Set once the handler returned: from then on the job's own commit decides, not the heartbeat.
    finishing: bool = False


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int,
        registry: Registry | None = None,
        worker_id: str | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if registry is None:
            autodiscover()
            registry = default_registry
        settings = runtime.settings
        self.runtime = runtime
        self.db = runtime.db
        self.registry = registry
        self.concurrency = concurrency
        self.worker_id = (worker_id or default_worker_id())[:100]
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.job_poll_seconds
        self.lease_seconds = float(lease_seconds if lease_seconds is not None else settings.job_lease_seconds)
        self.shutdown_timeout = shutdown_timeout
        self._clock = clock
        self._rng = random.Random()
        self._running: dict[int, _Running] = {}
        self._wake = asyncio.Event()
        self._claim_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._started = False
        self._last_reap = float("-inf")

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running_jobs(self) -> int:
        return len(self._running)

    def wake(self) -> None:
        """Look for work now instead of at the next poll (called after commits that enqueued)."""
        self._wake.set()

    async def start(self) -> None:
        if self._started:
            return
        self._stopping = False
        await self.ensure_schedules()
        self.db.job_listeners.append(self.wake)
        self._started = True
        self._claim_task = asyncio.create_task(self._claim_loop(), name=f"jobs-claim-{self.worker_id}")
        self._loops = [asyncio.create_task(self._heartbeat_loop(), name="jobs-heartbeat")]
        if self.registry.schedules:
            # Intervals are whole seconds, so checking more than once a second gains nothing.
            every = min(self.poll_seconds, 1.0)
            schedules = scheduler.run_forever(self.db, self.registry, self._clock, every=every)
            self._loops.append(asyncio.create_task(schedules, name="jobs-scheduler"))
        if not self.db.is_sqlite:
            listen = wakeup.listen_forever(self.db.url, self.wake, retry_seconds=max(self.poll_seconds, 1.0))
            self._loops.append(asyncio.create_task(listen, name="jobs-listen"))
        log.info(
            "job worker started",
            extra={"worker_id": self.worker_id, "concurrency": self.concurrency, "lease": self.lease_seconds},
        )

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming, let running jobs finish (up to ``grace_seconds``), hand back the rest."""
        if not self._started:
            return
        self._stopping = True
        self._wake.set()
        if self._claim_task is not None:
            await asyncio.gather(self._claim_task, return_exceptions=True)
        heartbeat, others = self._loops[0], self._loops[1:]
        await _cancel_all(others)
        pending = [entry.task for entry in self._running.values()]
        if pending:
            wait_for = self.shutdown_timeout if grace_seconds is None else grace_seconds
            _done, late = await asyncio.wait(pending, timeout=wait_for)
            if late:
                log.warning("jobs still running at shutdown are interrupted", extra={"count": len(late)})
            await _cancel_all(list(late))
        await _cancel_all([heartbeat])
        try:
            async with self.db.uow() as uow:
                released = await repository.release(uow.session, worker_id=self.worker_id, now=self._clock())
            if released:
                log.info("released unfinished jobs", extra={"job_ids": released})
        except Exception:
            log.exception("could not release jobs; they return to the queue when their leases expire")
        with contextlib.suppress(ValueError):
            self.db.job_listeners.remove(self.wake)
        self._claim_task = None
        self._loops = []
        self._started = False
        log.info("job worker stopped", extra={"worker_id": self.worker_id})

    async def run_until_idle(self, *, max_jobs: int | None = None) -> int:
        """Run ready jobs until none is left (delayed ones are not waited for); for tests and CLI."""
        await self.reap_expired()
        total = 0
        while max_jobs is None or total < max_jobs:
            limit = self.concurrency if max_jobs is None else min(self.concurrency, max_jobs - total)
            claimed = await self._claim(limit)
            if not claimed:
                break
            await asyncio.wait([self._spawn(job) for job in claimed])
            total += len(claimed)
        return total

    # -- claiming --------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            more = False
            try:
                await self._reap_if_due()
                free = self.concurrency - len(self._running)
                if free > 0:
                    claimed = await self._claim(free)
                    for job in claimed:
                        self._spawn(job)
                    # A full batch means more may be ready: go again as soon as a slot is free.
                    more = len(claimed) == free
            except Exception:
                log.exception("claiming jobs failed", extra={"worker_id": self.worker_id})
            if self._stopping:
                break
            if more and len(self._running) < self.concurrency:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        now = self._clock()
        async with self.db.uow() as uow:
            return await repository.claim_batch(
                uow.session,
                worker_id=self.worker_id,
                limit=limit,
                now=now,
                lease_until=now + timedelta(seconds=self.lease_seconds),
            )

    async def _reap_if_due(self) -> None:
        # Half a lease is soon enough to notice a dead worker, and cheap at the default lease.
        if time.monotonic() - self._last_reap >= max(0.5, min(self.lease_seconds / 2, 10.0)):
            await self.reap_expired()

    async def reap_expired(self) -> int:
        self._last_reap = time.monotonic()
        async with self.db.uow() as uow:
            requeued, buried = await repository.recover_expired(uow.session, now=self._clock())
        if requeued or buried:
            log.warning("recovered jobs with expired leases", extra={"requeued": requeued, "dead": buried})
        return requeued + buried

    def _spawn(self, job: ClaimedJob) -> asyncio.Task[None]:
        task = asyncio.create_task(self._execute(job), name=f"job-{job.id}-{job.task}")
        entry = _Running(job, task)
        self._running[job.id] = entry

        def _finished(done: asyncio.Task[None]) -> None:
            if self._running.get(job.id) is entry:
                del self._running[job.id]
            if not done.cancelled() and done.exception() is not None:
                log.error("job runner crashed", exc_info=done.exception(), extra={"job_id": job.id})
            self._wake.set()

        task.add_done_callback(_finished)
        return task

    # -- running one job -------------------------------------------------------------------------

    async def _execute(self, job: ClaimedJob) -> None:
        info = {"job_id": job.id, "task": job.task, "attempt": job.attempts, "worker_id": self.worker_id}
        spec = self.registry.get(job.task)
        if spec is None:
            missing = UnknownTask(
                f"unknown task {job.task!r}: no handler is registered for it in this worker"
            )
            await self._record_failure(job, None, missing)
            return
        started = time.monotonic()
        uow = self.db.uow()
        ctx = JobContext(
            uow=uow,
            runtime=self.runtime,
            job_id=job.id,
            task=job.task,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            worker_id=self.worker_id,
        )
        try:
            try:
                await self._call_handler(spec, ctx, job.payload)
                self._mark_finishing(job.id)
                if not await repository.complete(uow.session, self._fence(job), now=self._clock()):
                    raise LeaseLost(f"job {job.id} attempt {job.attempts} no longer belongs to this worker")
                await uow.commit()
            except BaseException:
                await uow.rollback()
                raise
            finally:
                # Also ends a transaction a handler may have reopened after committing on its own.
                await uow.session.close()
        except LeaseLost:
            log.warning("lease lost; the job's work was rolled back", extra=info)
            return
        except asyncio.CancelledError:
            log.info("job interrupted; its work was rolled back", extra=info)
            raise
        except Exception as exc:
            await self._record_failure(job, spec, exc)
            return
        log.info("job done", extra={**info, "duration_ms": round((time.monotonic() - started) * 1000)})

    async def _call_handler(self, spec: TaskSpec, ctx: JobContext, payload: dict[str, Any]) -> None:
        deadline = asyncio.timeout(spec.timeout)
        try:
            async with deadline:
                await spec.handler(ctx, payload)
        except TimeoutError as exc:
            if deadline.expired():
                raise JobTimeout(f"task {spec.name!r} timed out after {spec.timeout:g}s") from exc
            raise

    def _fence(self, job: ClaimedJob) -> repository.Fence:
        return repository.Fence(job.id, self.worker_id, job.attempts)

    def _mark_finishing(self, job_id: int) -> None:
        entry = self._running.get(job_id)
        if entry is not None:
            entry.finishing = True

    async def _record_failure(self, job: ClaimedJob, spec: TaskSpec | None, exc: BaseException) -> None:
        """In a fresh transaction (the job's own one was rolled back): retry later or bury."""
        info = {"job_id": job.id, "task": job.task, "attempt": job.attempts, "worker_id": self.worker_id}
        error = format_error(exc)
        now = self._clock()
        dead = spec is None or isinstance(exc, PermanentFailure) or job.attempts >= job.max_attempts
        delay = 0.0
        try:
            async with self.db.uow() as uow:
                if dead or spec is None:
                    recorded = await repository.bury(uow.session, self._fence(job), error=error, now=now)
                else:
                    if isinstance(exc, RetryAfter):
                        delay = exc.seconds
                    else:
                        delay = spec.retry_delay(job.attempts, self._rng)
                    run_at = now + timedelta(seconds=delay)
                    recorded = await repository.reschedule(
                        uow.session, self._fence(job), run_at=run_at, error=error
                    )
        except Exception:
            log.exception("could not record a job failure; its lease expiry will retry it", extra=info)
            return
        if not recorded:
            log.warning("lease lost before the failure could be recorded", extra=info)
        elif dead:
            log.error("job moved to dead letters: %s", error.splitlines()[0], extra=info)
        else:
            log.warning("job failed, retrying in %.1fs: %s", delay, error.splitlines()[0], extra=info)

    # -- leases ----------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_seconds / 3))
            await self.renew_leases()

    async def renew_leases(self) -> None:
        """Extend the leases of running jobs; cancel the ones another worker has taken over."""
        entries = {job_id: entry for job_id, entry in self._running.items() if not entry.finishing}
        if not entries:
            return
        now = self._clock()
        try:
            async with self.db.uow() as uow:
                kept = await repository.extend_leases(
                    uow.session,
                    worker_id=self.worker_id,
                    job_ids=sorted(entries),
                    lease_until=now + timedelta(seconds=self.lease_seconds),
                )
        except Exception:
            log.warning("could not renew job leases", exc_info=True, extra={"worker_id": self.worker_id})
            return
        for job_id, entry in entries.items():
            if job_id not in kept and not entry.finishing and self._running.get(job_id) is entry:
                log.warning(
                    "lease lost; interrupting the job", extra={"job_id": job_id, "task": entry.job.task}
                )
                entry.task.cancel()

    # -- schedules -------------------------------------------------------------------------------

    async def ensure_schedules(self) -> None:
        await scheduler.ensure_schedules(self.db, self.registry, now=self._clock())

    async def tick_schedules(self) -> int:
        """Enqueue due periodic tasks; returns how many schedules this worker advanced."""
        return await scheduler.fire_due(self.db, self.registry, now=self._clock())


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_worker_forever(
    runtime: Runtime,
    concurrency: int,
    *,
    registry: Registry | None = None,
    on_ready: Callable[[Worker], None] | None = None,
    **worker_options: Any,
) -> None:
    """Run a worker until SIGTERM or SIGINT, stop it gracefully, then close ``runtime``.

    This is the whole life of an ``opora worker`` process, hence it also closes the runtime.
    """
    await runtime.start()
    worker = Worker(runtime, concurrency=concurrency, registry=registry, **worker_options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.start()
        if on_ready is not None:
            on_ready(worker)
        await stop.wait()
        log.info("shutdown signal received", extra={"worker_id": worker.worker_id})
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        try:
            await worker.stop()
        finally:
            await runtime.close()
