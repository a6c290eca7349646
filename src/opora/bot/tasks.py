"""Background retraining after admins edit intents (debounced by the job's unique key)."""

from __future__ import annotations

import logging
from typing import Any

from opora.bot import service
from opora.jobs.registry import JobContext, task

log = logging.getLogger(__name__)


@task(service.TRAIN_TASK, max_attempts=3, timeout=900)
async def retrain(ctx: JobContext, payload: dict[str, Any]) -> None:
    version = await service.train(ctx.uow, str(payload["language"]))
    log.info("bot model %s for %s: %s", version.id, version.language, version.status)
