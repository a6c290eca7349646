"""The delivery job of agent replies."""

from __future__ import annotations

from typing import Any

from opora.jobs.registry import JobContext, task
from opora.outbox import service
from opora.tickets.service import DELIVER_TASK


@task(DELIVER_TASK, max_attempts=8, timeout=120, retry_base=10.0, retry_cap=1800.0)
async def deliver_message(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.deliver(ctx.uow, ctx.runtime, int(payload["message_id"]), last_attempt=ctx.is_last_attempt)
