"""Work a process owes the desk when it starts, queued as jobs: `opora serve` and `opora worker`
both call :func:`queue_start_work`, so a deployment of either shape catches up after an upgrade
or a changed setting."""

from __future__ import annotations

from opora.bot import upgrade as bot_upgrade
from opora.db import Database
from opora.kb import tasks as kb_tasks


async def queue_start_work(db: Database) -> None:
    """Each step logs its own failure and never stops the start."""
    # Bot models trained with another encoder than this process runs (an upgrade that changed
    # the default, a changed OPORA_BOT_ENCODER): their retraining (ADR 0045).
    await bot_upgrade.retrain_stale_on_start(db)
    # Articles without a vector of the encoder this process re-ranks with (ADR 41).
    await kb_tasks.embed_missing_on_start(db)
