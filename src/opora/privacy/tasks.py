"""Retention: closed tickets lose their texts and files once the configured months have passed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opora.jobs.registry import JobContext, periodic
from opora.jobs.service import enqueue
from opora.kit.time import utcnow
from opora.privacy import service
from opora.privacy.service import RETENTION_BATCH

RETENTION_TASK = "privacy.apply_retention"


@periodic(RETENTION_TASK, every=timedelta(hours=6))
async def apply_retention(ctx: JobContext, payload: dict[str, Any]) -> None:
    done = await service.apply_retention(ctx.uow, ctx.runtime.storage, now=utcnow())
    if done == RETENTION_BATCH:
        # More are due: continue in a fresh job (and transaction) instead of one huge one.
        await enqueue(ctx.uow, RETENTION_TASK, {"continued": True}, unique_key=f"{RETENTION_TASK}:more")
