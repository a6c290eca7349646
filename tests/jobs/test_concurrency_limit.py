"""A worker never runs more jobs at once than its concurrency, however many are ready."""

import asyncio
from typing import Any

from opora.jobs.registry import JobContext, Registry
from opora.jobs.service import enqueue
from opora.jobs.worker import Worker
from opora.runtime import Runtime


async def test_claims_never_exceed_concurrency(runtime: Runtime, registry: Registry) -> None:
    running = 0
    peak = 0
    done = 0

    @registry.task("test.slow")
    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done += 1

    async with runtime.db.uow() as uow:
        for i in range(60):
            await enqueue(uow, "test.slow", {"i": i}, registry=registry)
    worker = Worker(runtime, concurrency=2, registry=registry, poll_seconds=0.02)
    await worker.start()
    try:
        for _ in range(500):
            if done == 60:
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    assert done == 60
    assert peak <= 2
