"""PostgreSQL's search transaction: full-text statements kept on the GIN index (the caller's
planner settings put back after), and the log row committed without waiting for the WAL flush
unless the transaction wrote something before."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select, text

from opora.db import UnitOfWork
from opora.kb.models import KbSearchLog
from opora.kb.search import repository
from opora.kb.search import service as search
from opora.runtime import Runtime
from tests.kb.conftest import PUBLIC, hit_ids, make_article
from tests.support.factories import Desk

PLAN = ("enable_seqscan", "enable_indexscan", "enable_hashjoin")


async def _setting(uow: UnitOfWork, name: str) -> str:
    return str(await uow.session.scalar(text(f"SELECT current_setting('{name}')")))


async def _logged(runtime: Runtime) -> int:
    async with runtime.db.reader() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(KbSearchLog)) or 0)


async def test_a_logged_search_commits_its_row_without_the_flush_wait_only_when_alone(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    if runtime.db.is_sqlite:
        pytest.skip("PostgreSQL's planner and commit settings")
    a = await make_article(
        client,
        desk.olga_h,
        title="Возврат товара",
        body_md="Вернуть товар можно за 14 дней.",
        publish_h=desk.supervisor_h,
    )
    before = await _logged(runtime)

    async with runtime.db.uow() as uow:
        found = await search.search(uow, "вернуть товар за две недели", scope=search.public_scope("ru"))
        assert [h.article.id for h in found.hits] == [a["id"]]
        assert found.search_id
        assert await _setting(uow, "synchronous_commit") == "off"
        # The planner settings of the ranking were put back by the log row's INSERT.
        assert [await _setting(uow, name) for name in PLAN] == ["on", "on", "on"]
    assert await _logged(runtime) == before + 1

    async with runtime.db.uow() as uow:
        await repository.rank_ids(uow, "'возвр':* | 'товар':*", search.public_scope("ru"), limit=20)
        assert [await _setting(uow, name) for name in PLAN] == ["off", "off", "off"]
        await repository.restore_plan(uow)
        assert [await _setting(uow, name) for name in PLAN] == ["on", "on", "on"]

    async with runtime.db.uow() as uow:
        assert await _setting(uow, "enable_seqscan") == "on"
        assert await _setting(uow, "synchronous_commit") == "on"
        # This transaction has written (an xid is assigned): its commit keeps waiting for the
        # flush, the search's log row being only part of it.
        await uow.session.execute(text("SELECT txid_current()"))
        found = await search.search(uow, "возврат", scope=search.public_scope("ru"))
        assert found.search_id
        assert await _setting(uow, "synchronous_commit") == "on"
    assert await _logged(runtime) == before + 2

    # A search that is not logged writes nothing and changes no commit setting.
    async with runtime.db.uow() as uow:
        await uow.session.execute(text("SET LOCAL enable_hashjoin = off"))
        await search.search(uow, "возврат", scope=search.public_scope("ru"), log=False)
        assert await _setting(uow, "synchronous_commit") == "on"
        # Put back as the caller had them, not to the defaults.
        assert [await _setting(uow, name) for name in PLAN] == ["on", "on", "off"]
    assert await _logged(runtime) == before + 2


async def test_a_long_question_is_ranked_and_logged_through_the_api(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    sup = desk.supervisor_h
    a = await make_article(
        client, desk.olga_h, title="Возврат товара", body_md="Вернуть товар можно за 14 дней.", publish_h=sup
    )
    b = await make_article(
        client, desk.olga_h, title="Доставка", body_md="Курьер привезёт заказ за 2 дня.", publish_h=sup
    )
    question = (
        "Здравствуйте! Две недели назад курьер привёз заказ, товар не подошёл, хочу вернуть товар и "
        "получить деньги, подскажите, пожалуйста, как оформить возврат"
    )
    r = await client.get(f"{PUBLIC}/search", params={"q": question})
    assert set(hit_ids(r)) == {a["id"], b["id"]} and hit_ids(r)[0] == a["id"]
    assert r.json()["search_id"]
