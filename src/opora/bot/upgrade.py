"""Retraining on start: models trained with another encoder than this process runs (ADR 0045).

A stored version is never applied to another encoder's vectors, so after the encoder of a language
changes (a release that changes the default, or an edit of ``OPORA_BOT_ENCODER``) the bot hands
that language's messages to a person until it is retrained. Each process start (``opora serve``,
``opora worker``) therefore queues that retraining: the job admins' edits queue, under the same
unique key, so any number of processes starting together queue one job per language; a retraining
already waiting for an edit is brought forward instead.

Once per model: a language whose active version is stale but which already has a later version
trained with the running encoder (a failed one, whose reason the admin's version list shows, or
one the admin chose not to keep active) is not queued again; the log says so at each start, and
an edit of the intents or "retrain now" retries it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from opora.bot import repository as repo
from opora.bot import service
from opora.db import Database, UnitOfWork
from opora.jobs.service import enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stale:
    """A language whose active version this process cannot use."""

    model_id: int
    language: str
    trained_with: str
    running: str
    # A later version trained with ``running``: the retraining was already tried.
    tried: int | None


async def stale_models(uow: UnitOfWork, language: str | None = None) -> list[Stale]:
    found = []
    for model_id, model_language, trained_with in await repo.active_encoders(uow.session):
        if language is not None and model_language != language:
            continue
        running = service.running_encoder(model_language)
        if trained_with == running:
            continue
        tried = await repo.version_since(uow.session, model_language, running, after_id=model_id)
        found.append(Stale(model_id, model_language, trained_with, running, tried))
    return found


async def retrain_stale(db: Database) -> dict[str, int | None]:
    """Queue a retraining of every language whose active version was trained with another
    encoder and not yet retried; returns ``{language: job id}`` (``None``: a retraining of that
    language was already running or due sooner)."""
    async with db.reader() as uow:
        found = await stale_models(uow)
    queued: dict[str, int | None] = {}
    for stale in found:
        if stale.tried is not None:
            log.warning(
                "bot model %s (%s) was trained with encoder %s but this process runs %s; version %s, "
                "trained with it since, is not active, so it is not retrained again: the bot hands %s "
                "messages to a person until an admin retrains or activates a version",
                stale.model_id,
                stale.language,
                stale.trained_with,
                stale.running,
                stale.tried,
                stale.language,
            )
            continue
        async with db.uow() as uow:
            job_id = await enqueue(
                uow,
                service.TRAIN_TASK,
                {"language": stale.language},
                unique_key=service.training_key(stale.language),
                delay=timedelta(0),
                sooner=True,
            )
            # Looked at again after the insert: another process's retraining may have committed
            # between the first look and the insert (on PostgreSQL the insert waits for it; a
            # SQLite transaction holds the write lock from its start), and must not run twice.
            if not [s for s in await stale_models(uow, stale.language) if s.tried is None]:
                await uow.rollback()
                continue
        queued[stale.language] = job_id
        log.warning(
            "bot model %s (%s) was trained with encoder %s but this process runs %s "
            "(OPORA_BOT_ENCODER): %s; the bot hands %s messages to a person until the new version "
            "is active",
            stale.model_id,
            stale.language,
            stale.trained_with,
            stale.running,
            f"retraining queued (job {job_id})" if job_id else "its retraining is already queued or running",
            stale.language,
        )
    return queued


async def retrain_stale_on_start(db: Database) -> None:
    """:func:`retrain_stale` for start-up: a failure is logged and never stops the process (the bot
    then hands off as before, and an admin can retrain from the bot's page)."""
    try:
        await retrain_stale(db)
    except Exception:
        log.exception("looking for bot models trained with another encoder failed")
