"""Rebuilding the similar-tickets index (after an upgrade, or a change of the stemmer), a batch
per job, each job queuing the next."""

from __future__ import annotations

from typing import Any

from opora.assist import service
from opora.jobs.registry import JobContext, task
from opora.jobs.service import enqueue

REINDEX_TASK = "assist.reindex"
REINDEX_BATCH = 200


@task(REINDEX_TASK, max_attempts=5, timeout=300)
async def reindex(ctx: JobContext, payload: dict[str, Any]) -> None:
    done = await service.reindex_batch(ctx.uow, after_id=int(payload.get("after_id", 0)), limit=REINDEX_BATCH)
    if len(done) == REINDEX_BATCH:
        await enqueue(ctx.uow, REINDEX_TASK, {"after_id": done[-1]})
