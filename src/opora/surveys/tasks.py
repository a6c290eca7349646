"""The survey send job."""

from __future__ import annotations

from typing import Any

from opora.jobs.registry import JobContext, task
from opora.surveys import service, tokens


@task(service.SEND_TASK, max_attempts=5, timeout=60)
async def send_survey(ctx: JobContext, payload: dict[str, Any]) -> None:
    settings = ctx.runtime.settings
    await service.send(
        ctx.uow,
        ticket_id=int(payload["ticket_id"]),
        public_url=settings.public_url,
        key=tokens.link_key(settings.resolved_secret_key()),
    )
