"""How full-text search weighs words, on both backends: a word that names the topic in an
article's body outranks a common one in other articles' titles."""

from __future__ import annotations

import httpx
import pytest

from opora.kb.search import repository
from tests.kb.conftest import PUBLIC, hit_ids, make_article
from tests.support.factories import Desk


async def test_a_rare_word_outranks_a_common_one_in_titles(
    client: httpx.AsyncClient, desk: Desk, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = desk.supervisor_h
    for topic in ("оплата", "отмена", "изменение", "статус"):
        await make_article(
            client, desk.olga_h, title=f"Заказ: {topic}", body_md="Смотрите в личном кабинете.", publish_h=sup
        )
    pickup = await make_article(
        client, desk.olga_h, title="Самовывоз", body_md="Заказ ждёт в ПВЗ.", publish_h=sup
    )
    query = {"q": "мой заказ в ПВЗ"}
    assert hit_ids(await client.get(f"{PUBLIC}/search", params=query))[0] == pickup["id"]
    if backend == "postgres":
        # What PostgreSQL ranked before: a title match 3.3 times a body match.
        monkeypatch.setattr(repository, "_PG_WEIGHTS", "{0.1, 0.2, 0.3, 1.0}")
        assert hit_ids(await client.get(f"{PUBLIC}/search", params=query))[0] != pickup["id"]
