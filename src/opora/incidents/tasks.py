"""The job that posts one incident update on one linked ticket."""

from __future__ import annotations

from typing import Any

from opora.incidents import service
from opora.jobs.registry import JobContext, task


@task(service.POST_TASK, max_attempts=5, timeout=60)
async def post_update(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.deliver_update(ctx.uow, int(payload["update_id"]), int(payload["ticket_id"]))
