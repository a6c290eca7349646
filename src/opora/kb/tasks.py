"""Knowledge-base housekeeping: forgetting old searches, rebuilding the search index, and the
articles' sentence vectors."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from opora.db import Database
from opora.jobs.registry import JobContext, periodic, task
from opora.jobs.service import enqueue
from opora.kb import repository
from opora.kb.search import repository as search_repository
from opora.kb.search import semantic
from opora.kb.search.service import EMBED_TASK, embed_articles, index_article
from opora.kit.time import utcnow

PURGE_TASK = "kb.purge_search_log"
REINDEX_TASK = "kb.reindex"
# Half a year of searches is enough to see seasonal gaps; the raw queries may hold personal data
# visitors typed, so they do not stay forever.
KEEP_SEARCHES = timedelta(days=180)
REINDEX_BATCH = 200
VECTORS_TASK = "kb.embed_missing"
# An article's vector takes 10-40 ms of encoding: a batch stays well inside the job's timeout.
VECTORS_BATCH = 100

log = logging.getLogger(__name__)


@periodic(PURGE_TASK, every=timedelta(hours=24))
async def purge_search_log(ctx: JobContext, payload: dict[str, Any]) -> None:
    await search_repository.purge_log(ctx.uow, before=utcnow() - KEEP_SEARCHES)


@task(REINDEX_TASK, max_attempts=5, timeout=300)
async def reindex(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Re-stems every article (after a stemmer or tokenizer change), a batch per job."""
    after = int(payload.get("after_id", 0))
    batch = await repository.articles_after(ctx.uow, after, limit=REINDEX_BATCH)
    for article in batch:
        await index_article(ctx.uow, article)
    if len(batch) == REINDEX_BATCH:
        await enqueue(ctx.uow, REINDEX_TASK, {"after_id": batch[-1].id})


@task(EMBED_TASK, max_attempts=5, timeout=120)
async def embed_article(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The article's vector from its text as it is now (a later edit queues another job); an
    article deleted meanwhile needs none."""
    found = await search_repository.articles_by_ids(ctx.uow, [int(payload["article_id"])])
    await embed_articles(ctx.uow, list(found.values()))


@task(VECTORS_TASK, max_attempts=5, timeout=300)
async def embed_missing(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Vectors for the articles that have none of the running encoder, a batch per job."""
    if not semantic.ENABLED:
        return
    after = int(payload.get("after_id", 0))
    encoder = semantic.embedder().name
    batch = await search_repository.articles_without_vector(
        ctx.uow, encoder, after_id=after, limit=VECTORS_BATCH
    )
    await embed_articles(ctx.uow, batch)
    if len(batch) == VECTORS_BATCH:
        # Without the unique key: the running job still holds it.
        await enqueue(ctx.uow, VECTORS_TASK, {"after_id": batch[-1].id})


async def embed_missing_on_start(db: Database) -> int | None:
    """Queues vectors for articles that lack one, when this process re-ranks: a desk upgraded
    from a release where re-ranking was off (the default until ADR 41's update of 2026-12-07),
    one that has just turned it on, or a changed encoder. Without them re-ranking would see only
    the articles edited since. Processes starting together queue one job (its unique key); a
    failure is logged and never stops the start. Returns the job id, if one was queued."""
    if not semantic.ENABLED:
        return None
    try:
        async with db.uow() as uow:
            encoder = semantic.embedder().name  # the name only: no model is loaded here
            if not await search_repository.articles_without_vector(uow, encoder, limit=1):
                return None
            job_id = await enqueue(uow, VECTORS_TASK, {}, unique_key=VECTORS_TASK, delay=timedelta(0))
    except Exception:
        log.exception("looking for knowledge-base articles without a sentence vector failed")
        return None
    if job_id is not None:
        log.info(
            "knowledge-base articles without a %s vector: their encoding is queued (job %s)", encoder, job_id
        )
    return job_id
