"""Knowledge-base housekeeping: forgetting old searches, rebuilding the search index, and the
articles' sentence vectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opora.jobs.registry import JobContext, periodic, task
from opora.jobs.service import enqueue
from opora.kb import repository
from opora.kb.search import repository as search_repository
from opora.kb.search.service import EMBED_TASK, embed_articles, index_article
from opora.kit.time import utcnow

PURGE_TASK = "kb.purge_search_log"
REINDEX_TASK = "kb.reindex"
# Half a year of searches is enough to see seasonal gaps; the raw queries may hold personal data
# visitors typed, so they do not stay forever.
KEEP_SEARCHES = timedelta(days=180)
REINDEX_BATCH = 200


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
