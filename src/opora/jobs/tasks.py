"""Housekeeping of the queue itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opora.jobs import repository
from opora.jobs.registry import JobContext, periodic
from opora.jobs.service import enqueue
from opora.kit.time import utcnow

PURGE_TASK = "jobs.purge_done"
# Finished jobs are kept for a week to answer "did that notification go out?"; dead ones stay
# until an admin retries them, since they are the only record of the failure.
KEEP_DONE = timedelta(days=7)
# Bounded so that one run is a short transaction even after a long outage of this task.
PURGE_BATCH = 10_000


@periodic(PURGE_TASK, every=timedelta(hours=1))
async def purge_done_jobs(ctx: JobContext, payload: dict[str, Any]) -> None:
    deleted = await repository.purge_done(ctx.uow.session, cutoff=utcnow() - KEEP_DONE, limit=PURGE_BATCH)
    if deleted >= PURGE_BATCH:
        # More is left: continue in a fresh job rather than one ever-growing transaction. No unique
        # key: this very job still holds any key until it commits, which would swallow the chain.
        await enqueue(ctx.uow, PURGE_TASK, {"continued_from": ctx.job_id})
