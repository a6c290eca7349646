"""Search statements are built once per scope and bound per query: queries of any length run the
same statement text (PostgreSQL's IDF re-scoring and document frequencies included), so neither
the client nor the server builds or plans a new shape for each search."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opora.kb.search import repository, semantic
from opora.kb.search import service as search
from opora.runtime import Runtime
from tests.kb.conftest import PUBLIC, hit_ids, make_article
from tests.support.factories import Desk
from tests.web.helpers import count_queries

QUESTIONS = (
    "вернуть деньги",
    "вернуть деньги за заказ на карту",
    "как вернуть деньги за отменённый заказ обратно на карту",
)


async def _shop(client: httpx.AsyncClient, desk: Desk) -> dict[str, Any]:
    sup = desk.supervisor_h
    refund = await make_article(
        client,
        desk.olga_h,
        title="Возврат денег",
        body_md="Деньги за заказ вернутся на карту за 3-10 дней.",
        publish_h=sup,
    )
    await make_article(
        client, desk.olga_h, title="Доставка курьером", body_md="Курьер привезёт заказ.", publish_h=sup
    )
    await make_article(client, desk.olga_h, title="Оплата картой", body_md="Карты Мир и Visa.", publish_h=sup)
    return refund


async def test_questions_of_any_length_run_one_statement_text(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    refund = await _shop(client, desk)
    # Re-ranking on and no vector stored yet (no job has run): the full-text ranking alone, with
    # PostgreSQL's IDF re-scoring.
    monkeypatch.setattr(semantic, "ENABLED", True)
    search._frequencies.clear()
    with count_queries(runtime) as seen:
        for question in QUESTIONS:
            assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": question}))[0] == refund["id"]
    ranking = {s for s in seen if "kb_fts MATCH" in s or "to_tsquery('simple'" in s}
    if runtime.db.is_sqlite:
        assert len(ranking) == 1
        return
    rescoring = {s for s in ranking if "unnest" in s and "ORDINALITY" not in s}
    counting = {s for s in ranking if "ORDINALITY" in s}
    # One re-scoring text for three lengths; the counts have two (the first also counts every
    # article, then that number is kept).
    assert len(rescoring) == 1 and len(counting) == 2
    assert ranking == rescoring | counting


async def test_a_built_statement_serves_its_scope_and_settings_only(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The re-scoring's CTE keeps RESCORED rows, so it must cover the largest page.
    assert repository.RESCORED >= search.MAX_LIMIT
    refund = await _shop(client, desk)
    repository._STATEMENTS.clear()
    for question in QUESTIONS:
        await client.get(f"{PUBLIC}/search", params={"q": question})
    built = dict(repository._STATEMENTS)
    assert len(built) == 1
    # Another scope (English, or an agent's) is another statement; so is a changed weight.
    await client.get(f"{PUBLIC}/search", params={"q": "refund", "language": "en"})
    assert len(repository._STATEMENTS) == 2
    monkeypatch.setattr(repository, "TITLE_WEIGHT", 1.0)
    monkeypatch.setattr(repository, "_PG_WEIGHTS", "{0.1, 0.2, 0.3, 1.0}")
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": QUESTIONS[0]}))[0] == refund["id"]
    assert len(repository._STATEMENTS) == 3
    assert all(repository._STATEMENTS[key] is stmt for key, stmt in built.items())
    # The cache stays small whatever callers do: past its bound it starts again.
    monkeypatch.setattr(repository, "STATEMENTS_MAX", 3)
    await client.get(f"{PUBLIC}/search", params={"q": "refund", "language": "en"})
    assert len(repository._STATEMENTS) == 1
