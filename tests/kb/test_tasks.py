"""Housekeeping jobs: the search log is forgotten after a while, the index can be rebuilt."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import delete, func, select

from opora.db import UnitOfWork
from opora.jobs.registry import JobContext
from opora.kb import tasks
from opora.kb.models import KbSearchDoc, KbSearchLog
from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.kb.conftest import PUBLIC, hit_ids, make_article
from tests.support.factories import Desk


def context(runtime: Runtime, uow: UnitOfWork, name: str) -> JobContext:
    return JobContext(uow=uow, runtime=runtime, job_id=1, task=name, attempt=1, max_attempts=5, worker_id="t")


async def test_reindex_rebuilds_a_lost_index(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    a = await make_article(client, desk.olga_h, title="Возврат товара", publish_h=desk.supervisor_h)
    async with runtime.db.uow() as uow:
        await uow.session.execute(delete(KbSearchDoc))
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "возврат"})) == []
    async with runtime.db.uow() as uow:
        await tasks.reindex(context(runtime, uow, tasks.REINDEX_TASK), {})
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "возврат"})) == [a["id"]]


async def test_old_searches_are_purged(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await client.get(f"{PUBLIC}/search", params={"q": "свежий запрос"})
    async with runtime.db.uow() as uow:
        old = utcnow() - tasks.KEEP_SEARCHES - timedelta(days=1)
        uow.session.add(
            KbSearchLog(query="старый", normalized="стар", source="portal", result_count=0, created_at=old)
        )
    async with runtime.db.uow() as uow:
        await tasks.purge_search_log(context(runtime, uow, tasks.PURGE_TASK), {})
    async with runtime.db.uow() as uow:
        left = (await uow.session.scalars(select(KbSearchLog.query))).all()
        assert list(left) == ["свежий запрос"]
        assert await uow.session.scalar(select(func.count()).select_from(KbSearchLog)) == 1
