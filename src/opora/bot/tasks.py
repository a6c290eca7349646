"""Background retraining after admins edit intents (debounced by the job's unique key), and the
bot's answer to each customer message of a ticket in bot mode."""

from __future__ import annotations

import logging
from typing import Any

from opora.bot import conversation, service
from opora.jobs.registry import JobContext, task

log = logging.getLogger(__name__)


@task(service.TRAIN_TASK, max_attempts=3, timeout=900)
async def retrain(ctx: JobContext, payload: dict[str, Any]) -> None:
    version = await service.train(ctx.uow, str(payload["language"]))
    log.info("bot model %s for %s: %s", version.id, version.language, version.status)


@task(conversation.RESPOND_TASK, max_attempts=5, timeout=120)
async def respond(ctx: JobContext, payload: dict[str, Any]) -> None:
    await conversation.respond(
        ctx.uow, int(payload["message_id"]), public_url=ctx.runtime.settings.public_url
    )
