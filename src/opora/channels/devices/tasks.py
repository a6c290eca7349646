"""Jobs of the device channel."""

from __future__ import annotations

from typing import Any

from opora.channels.devices import service
from opora.jobs.registry import JobContext, task


@task(service.PROCESS_TASK, max_attempts=10)
async def process_event(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.process(ctx.uow, ctx.runtime, int(payload["event"]))
