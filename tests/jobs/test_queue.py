"""The job queue in one process: transactions, retries, dead letters, dedupe, delays, admin."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from opora.db import Database
from opora.jobs import repository
from opora.jobs import tasks as housekeeping
from opora.jobs.errors import PermanentFailure, RetryAfter
from opora.jobs.models import Job, JobState
from opora.jobs.registry import JobContext, Registry, backoff_delay, default_registry
from opora.jobs.service import complete_queued, enqueue, list_jobs, queue_stats, retry_dead
from opora.jobs.tasks import PURGE_TASK, purge_done_jobs
from opora.jobs.worker import Worker
from opora.kit.errors import Conflict, IllegalTransition, InvalidInput
from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.jobs.helpers import all_jobs, effects, job_row, make_due, wait_until
from tests.jobs.worker_proc import record_effect


def echo_task(registry: Registry, calls: list[Any], name: str = "t.echo") -> None:
    @registry.task(name)
    async def echo(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append(payload.get("n"))


async def test_rolled_back_enqueue_leaves_no_job_and_committed_one_runs(
    runtime: Runtime, registry: Registry
) -> None:
    calls: list[Any] = []
    echo_task(registry, calls)

    async def failing_use_case() -> None:
        async with runtime.db.uow() as uow:
            assert await enqueue(uow, "t.echo", {"n": 1}, registry=registry) is not None
            raise RuntimeError("the caller's use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.echo", {"n": 2}, registry=registry)

    assert await Worker(runtime, concurrency=2, registry=registry).run_until_idle() == 1
    assert calls == [2]
    [job] = await all_jobs(runtime.db)
    assert (job.id, job.state, job.attempts, job.last_error) == (job_id, JobState.DONE, 1, None)
    assert job.finished_at is not None


async def test_commit_wakes_a_started_worker_without_waiting_for_the_poll(
    runtime: Runtime, registry: Registry
) -> None:
    calls: list[Any] = []
    echo_task(registry, calls)
    worker = Worker(runtime, concurrency=1, registry=registry, poll_seconds=30)
    await worker.start()
    try:
        await asyncio.sleep(0.1)  # the first poll has happened; the next is 30 s away
        async with runtime.db.uow() as uow:
            await enqueue(uow, "t.echo", {"n": 7}, registry=registry)

        async def ran() -> bool:
            return calls == [7]

        await wait_until(ran, timeout=5, what="the woken worker")
    finally:
        await worker.stop()


async def test_notify_wakes_a_worker_of_another_process(
    runtime: Runtime, registry: Registry, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL-only; SQLite workers poll or are woken in-process")
    calls: list[Any] = []
    echo_task(registry, calls)
    worker = Worker(runtime, concurrency=1, registry=registry, poll_seconds=30)
    await worker.start()
    other = Database(runtime.db.url)  # another engine: no in-process listener, like a web process
    try:
        await asyncio.sleep(0.3)
        async with other.uow() as uow:
            await enqueue(uow, "t.echo", {"n": 8}, registry=registry)

        async def ran() -> bool:
            return calls == [8]

        await wait_until(ran, timeout=5, what="the notified worker")
    finally:
        await worker.stop()
        await other.dispose()


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(1, 8):
        ceiling = 2.0 * 2 ** (attempt - 1)
        draws = [backoff_delay(attempt, base=2.0, cap=1000.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert max(draws) - min(draws) > ceiling / 4  # it is jittered, not a constant
    assert backoff_delay(50, base=2.0, cap=60.0, rng=rng) <= 60.0
    assert backoff_delay(10_000, base=2.0, cap=60.0, rng=rng) >= 30.0


async def test_retries_back_off_then_dead_letter_then_admin_retry(
    runtime: Runtime, registry: Registry
) -> None:
    failing = {"on": True}

    @registry.task("t.flaky", max_attempts=3, retry_base=10.0, retry_cap=1000.0)
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        if failing["on"]:
            raise ValueError(f"provider said no (attempt {ctx.attempt})")

    worker = Worker(runtime, concurrency=1, registry=registry)
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.flaky", {}, registry=registry)
    assert job_id is not None

    for attempt in (1, 2):
        before = utcnow()
        assert await worker.run_until_idle() == 1
        after = utcnow()
        job = await job_row(runtime.db, job_id)
        assert (job.state, job.attempts, job.locked_by) == (JobState.QUEUED, attempt, None)
        assert f"ValueError: provider said no (attempt {attempt})" in (job.last_error or "")
        ceiling = timedelta(seconds=10.0 * 2 ** (attempt - 1))
        assert before + ceiling / 2 <= job.run_at <= after + ceiling
        assert await worker.run_until_idle() == 0  # not due yet
        await make_due(runtime.db, job_id)

    assert await worker.run_until_idle() == 1
    job = await job_row(runtime.db, job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 3)
    assert (job.last_error or "").startswith("ValueError: provider said no (attempt 3)")
    assert "Traceback" in (job.last_error or "")
    assert job.finished_at is not None

    async with runtime.db.uow() as uow:
        page = await list_jobs(uow, state="dead")
        stats = await queue_stats(uow)
    assert [j.id for j in page.items] == [job_id]
    assert stats.counts == {"queued": 0, "running": 0, "done": 0, "dead": 1}

    failing["on"] = False
    async with runtime.db.uow() as uow:
        retried = await retry_dead(uow, job_id)
        assert (retried.state, retried.attempts) == (JobState.QUEUED, 0)
    assert await worker.run_until_idle() == 1
    job = await job_row(runtime.db, job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 1)
    assert "attempt 3" in (job.last_error or "")  # the history of the failure stays visible

    with pytest.raises(IllegalTransition):
        async with runtime.db.uow() as uow:
            await retry_dead(uow, job_id)


async def test_permanent_failure_and_retry_after(runtime: Runtime, registry: Registry) -> None:
    @registry.task("t.rejected", max_attempts=5)
    async def rejected(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentFailure("400 Bad Request: chat not found")

    @registry.task("t.throttled", max_attempts=5)
    async def throttled(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RetryAfter(120, "429 Too Many Requests")

    async with runtime.db.uow() as uow:
        rejected_id = await enqueue(uow, "t.rejected", {}, registry=registry)
        throttled_id = await enqueue(uow, "t.throttled", {}, registry=registry)
    assert rejected_id is not None
    assert throttled_id is not None
    before = utcnow()
    await Worker(runtime, concurrency=2, registry=registry).run_until_idle()
    job = await job_row(runtime.db, rejected_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 1)
    job = await job_row(runtime.db, throttled_id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 1)
    assert timedelta(seconds=119) <= job.run_at - before <= timedelta(seconds=125)


async def test_unknown_task_and_timeout_go_dead_with_a_clear_error(
    runtime: Runtime, registry: Registry
) -> None:
    @registry.task("t.slow", max_attempts=1, timeout=0.2)
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    async with runtime.db.uow() as uow:
        unknown_id = await enqueue(uow, "t.no_such_task", {}, registry=registry)
        slow_id = await enqueue(uow, "t.slow", {}, registry=registry)
    assert unknown_id is not None
    assert slow_id is not None
    await Worker(runtime, concurrency=2, registry=registry).run_until_idle()
    unknown = await job_row(runtime.db, unknown_id)
    assert unknown.state == JobState.DEAD
    assert "unknown task 't.no_such_task'" in (unknown.last_error or "")
    slow_job = await job_row(runtime.db, slow_id)
    assert slow_job.state == JobState.DEAD
    assert (slow_job.last_error or "").startswith("JobTimeout: task 't.slow' timed out after 0.2s")


async def test_unique_key_dedupes_while_active_and_is_free_after_done(
    runtime: Runtime, registry: Registry
) -> None:
    calls: list[Any] = []
    echo_task(registry, calls)
    async with runtime.db.uow() as uow:
        first = await enqueue(uow, "t.echo", {"n": 1}, unique_key="reply:42", registry=registry)
        assert await enqueue(uow, "t.echo", {"n": 2}, unique_key="reply:42", registry=registry) is None
    assert first is not None
    async with runtime.db.uow() as uow:
        assert await enqueue(uow, "t.echo", {"n": 3}, unique_key="reply:42", registry=registry) is None
        now = utcnow()
        claimed = await repository.claim_batch(
            uow.session, worker_id="w", limit=5, now=now, lease_until=now + timedelta(seconds=60)
        )
    assert [job.id for job in claimed] == [first]
    async with runtime.db.uow() as uow:  # running still holds the key
        assert await enqueue(uow, "t.echo", {"n": 4}, unique_key="reply:42", registry=registry) is None
        assert await repository.complete(uow.session, repository.Fence(first, "w", 1), now=utcnow())
    async with runtime.db.uow() as uow:
        second = await enqueue(uow, "t.echo", {"n": 5}, unique_key="reply:42", registry=registry)
    assert second is not None
    assert second != first
    await Worker(runtime, concurrency=1, registry=registry).run_until_idle()
    assert calls == [5]


async def test_sooner_brings_a_waiting_unique_job_forward_and_never_pushes_one_back(
    runtime: Runtime, registry: Registry
) -> None:
    calls: list[Any] = []
    echo_task(registry, calls)
    async with runtime.db.uow() as uow:
        waiting = await enqueue(
            uow, "t.echo", {"n": 1}, unique_key="train:en", delay=timedelta(minutes=5), registry=registry
        )
    assert waiting is not None
    # Without sooner a repeat changes nothing; a later one with sooner does not push it back.
    async with runtime.db.uow() as uow:
        assert await enqueue(uow, "t.echo", {"n": 2}, unique_key="train:en", registry=registry) is None
        later = timedelta(minutes=10)
        assert (
            await enqueue(
                uow, "t.echo", {"n": 3}, unique_key="train:en", delay=later, registry=registry, sooner=True
            )
            is None
        )
    await Worker(runtime, concurrency=1, registry=registry).run_until_idle()
    assert calls == []
    assert (await job_row(runtime.db, waiting)).run_at > utcnow() + timedelta(minutes=4)

    async with runtime.db.uow() as uow:
        moved = await enqueue(uow, "t.echo", {"n": 4}, unique_key="train:en", registry=registry, sooner=True)
    assert moved == waiting
    await Worker(runtime, concurrency=1, registry=registry).run_until_idle()
    # One job ran, now, with the payload it was queued with.
    assert calls == [1]
    assert len([j for j in await all_jobs(runtime.db) if j.unique_key == "train:en"]) == 1


async def test_delayed_job_does_not_run_before_run_at(runtime: Runtime, registry: Registry) -> None:
    calls: list[Any] = []
    echo_task(registry, calls)
    async with runtime.db.uow() as uow:
        later = await enqueue(uow, "t.echo", {"n": "later"}, delay=timedelta(minutes=10), registry=registry)
    assert later is not None
    assert await Worker(runtime, concurrency=1, registry=registry).run_until_idle() == 0
    in_11_minutes = Worker(
        runtime, concurrency=1, registry=registry, clock=lambda: utcnow() + timedelta(minutes=11)
    )
    assert await in_11_minutes.run_until_idle() == 1
    assert calls == ["later"]

    # And a running worker picks a short delay up by itself, not early.
    worker = Worker(runtime, concurrency=1, registry=registry, poll_seconds=0.1)
    await worker.start()
    try:
        async with runtime.db.uow() as uow:
            soon = await enqueue(
                uow, "t.echo", {"n": "soon"}, delay=timedelta(seconds=0.8), registry=registry
            )
        assert soon is not None
        await asyncio.sleep(0.4)
        assert calls == ["later"]

        async def ran() -> bool:
            return calls == ["later", "soon"]

        await wait_until(ran, timeout=5, what="the delayed job")
    finally:
        await worker.stop()
    job = await job_row(runtime.db, soon)
    assert job.finished_at is not None
    assert job.finished_at >= job.run_at


async def test_handler_writes_commit_only_with_the_job(
    runtime: Runtime, registry: Registry, effects_table: None
) -> None:
    @registry.task("t.write_then_fail", max_attempts=3, retry_base=0.01)
    async def write_then_fail(ctx: JobContext, payload: dict[str, Any]) -> None:
        await record_effect(ctx)
        await enqueue(ctx.uow, "t.follow_up", {}, registry=registry)
        if ctx.attempt == 1:
            raise RuntimeError("failed after writing")

    worker = Worker(runtime, concurrency=1, registry=registry)
    async with runtime.db.uow() as uow:
        job_id = await enqueue(uow, "t.write_then_fail", {}, registry=registry)
    assert job_id is not None
    assert await worker.run_until_idle(max_jobs=1) == 1
    assert await effects(runtime.db) == []
    assert [j.task for j in await all_jobs(runtime.db)] == ["t.write_then_fail"]

    await make_due(runtime.db, job_id)
    assert await worker.run_until_idle(max_jobs=1) == 1
    assert await effects(runtime.db) == [(job_id, 2, worker.worker_id)]
    assert [(j.task, j.state) for j in await all_jobs(runtime.db)] == [
        ("t.write_then_fail", JobState.DONE),
        ("t.follow_up", JobState.QUEUED),
    ]


async def test_admin_listing_and_queue_stats(runtime: Runtime, registry: Registry) -> None:
    async with runtime.db.uow() as uow:
        ids = [await enqueue(uow, "t.echo", {"n": n}, registry=registry) for n in range(4)]
        await enqueue(uow, "t.echo", {}, run_at=utcnow() - timedelta(seconds=30), registry=registry)
        await enqueue(uow, "t.other", {}, delay=timedelta(hours=1), registry=registry)
    async with runtime.db.uow() as uow:
        stats = await queue_stats(uow)
        first = await list_jobs(uow, task="t.echo", limit=3)
        assert first.next_cursor is not None
        rest = await list_jobs(uow, task="t.echo", limit=3, cursor=first.next_cursor)
        with pytest.raises(InvalidInput):
            await list_jobs(uow, state="exploded")
    assert stats.counts["queued"] == 6
    assert 30 <= stats.lag_seconds < 60  # the delayed job is not late; the back-dated one is
    listed = [j.id for j in first.items + rest.items]
    assert len(listed) == 5
    assert listed == sorted(listed, reverse=True)
    assert set(ids) <= set(listed)
    assert rest.next_cursor is None


async def test_enqueue_rejects_bad_arguments(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            await enqueue(uow, "t.echo", {"when": utcnow()})
        with pytest.raises(ValueError, match="run_at or delay"):
            await enqueue(uow, "t.echo", {}, run_at=utcnow(), delay=timedelta(seconds=1))
    assert await all_jobs(runtime.db) == []


async def test_housekeeping_purges_old_done_jobs_in_batches(
    runtime: Runtime, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PURGE_TASK in default_registry.schedules  # registered as a periodic task
    registry.task(PURGE_TASK)(purge_done_jobs)
    monkeypatch.setattr(housekeeping, "PURGE_BATCH", 1)
    async with runtime.db.uow() as uow:
        ids = [await enqueue(uow, "t.old", {}, max_attempts=5) for _ in range(4)]
        ids.append(await enqueue(uow, "t.old", {}, max_attempts=5, delay=timedelta(hours=1)))
    now = utcnow()
    ages = {
        ids[0]: (JobState.DONE, 8),
        ids[1]: (JobState.DONE, 9),
        ids[2]: (JobState.DONE, 1),
        ids[3]: (JobState.DEAD, 30),
    }
    async with runtime.db.uow() as uow:
        for job_id, (state, days) in ages.items():
            at = now - timedelta(days=days)
            await uow.session.execute(
                update(Job).where(Job.id == job_id).values(state=state, run_at=at, finished_at=at)
            )
        purge_id = await enqueue(uow, PURGE_TASK, {})
    assert purge_id is not None
    assert (await job_row(runtime.db, purge_id)).max_attempts == 3  # the periodic task's own setting
    # One row per run here: the first run, a continuation, and one that finds nothing left.
    assert await Worker(runtime, concurrency=1, registry=registry).run_until_idle() == 3
    left = {j.id: j.state for j in await all_jobs(runtime.db) if j.task == "t.old"}
    assert left == {ids[2]: JobState.DONE, ids[3]: JobState.DEAD, ids[4]: JobState.QUEUED}


async def test_retry_dead_refuses_while_the_unique_key_is_taken(runtime: Runtime, registry: Registry) -> None:
    @registry.task("t.broken", max_attempts=1)
    async def broken(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("nope")

    async with runtime.db.uow() as uow:
        dead_id = await enqueue(uow, "t.broken", {}, unique_key="send:1", registry=registry)
    assert dead_id is not None
    await Worker(runtime, concurrency=1, registry=registry).run_until_idle()
    async with runtime.db.uow() as uow:
        fresh_id = await enqueue(uow, "t.broken", {}, unique_key="send:1", registry=registry)
        assert fresh_id is not None  # a dead job does not hold its key
        with pytest.raises(Conflict):
            await retry_dead(uow, dead_id)
    assert (await job_row(runtime.db, dead_id)).state == JobState.DEAD


async def test_complete_queued_finishes_only_waiting_jobs_with_the_caller(runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.db.uow() as uow:
        running = await enqueue(uow, "t.batch", {}, max_attempts=5, unique_key="batch:1")
    async with runtime.db.uow() as uow:
        await repository.claim_batch(
            uow.session, worker_id="w", limit=1, now=utcnow(), lease_until=now + timedelta(seconds=60)
        )
    async with runtime.db.uow() as uow:
        waiting = await enqueue(uow, "t.batch", {}, max_attempts=5, unique_key="batch:2")

    async def batch_failed() -> None:
        async with runtime.db.uow() as uow:
            assert await complete_queued(uow, ["batch:1", "batch:2", "batch:3"]) == 1
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        await batch_failed()
    assert (await job_row(runtime.db, waiting)).state == JobState.QUEUED
    async with runtime.db.uow() as uow:
        assert await complete_queued(uow, ["batch:1", "batch:2"]) == 1
        assert await complete_queued(uow, []) == 0
    assert (await job_row(runtime.db, waiting)).state == JobState.DONE
    assert (await job_row(runtime.db, running)).state == JobState.RUNNING
