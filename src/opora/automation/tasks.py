"""The webhook delivery job; the queue's backoff spaces the retries (30 s, 1 min, 2 min, ...)."""

from __future__ import annotations

from typing import Any

from opora.automation import webhooks
from opora.jobs.registry import JobContext, task


@task(
    webhooks.DELIVER_TASK, max_attempts=webhooks.MAX_ATTEMPTS, timeout=60, retry_base=30.0, retry_cap=3600.0
)
async def deliver_webhook(ctx: JobContext, payload: dict[str, Any]) -> None:
    await webhooks.deliver(
        ctx.uow,
        ctx.runtime,
        int(payload["delivery_id"]),
        attempt=ctx.attempt,
        last_attempt=ctx.is_last_attempt,
    )
