"""Jobs of the inbound pipeline."""

from __future__ import annotations

from typing import Any

from opora.inbox import service
from opora.jobs.registry import JobContext, task


@task(service.PROCESS_TASK, max_attempts=10)
async def process_payload(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.process(ctx.uow, ctx.runtime, int(payload["payload_id"]))
