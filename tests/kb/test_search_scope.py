"""What the public may find follows each article's state at search time, and a few inputs the
portal meets: long mixed-language messages, a synonym edited by another process."""

from __future__ import annotations

import httpx
import pytest

from opora.kb.models import KbSynonym
from opora.kb.search import service as search
from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.kb.conftest import KB, PUBLIC, hit_ids, make_article
from tests.support.factories import Desk


async def _public_ids(client: httpx.AsyncClient, q: str) -> set[int]:
    found = set(hit_ids(await client.get(f"{PUBLIC}/search", params={"q": q})))
    return found | set(hit_ids(await client.get(f"{PUBLIC}/suggest", params={"q": q})))


async def test_public_search_follows_visibility_and_status(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    a = await make_article(
        client, desk.olga_h, title="Возврат товара", body_md="Вернуть товар можно за 14 дней.", publish_h=sup
    )
    assert await _public_ids(client, "возврат") == {a["id"]}
    searched = (await client.get(f"{PUBLIC}/search", params={"q": "возврат"})).json()

    # Made internal after it was public: the index row stays, the portal must not show it.
    r = await client.patch(f"{KB}/articles/{a['id']}", json={"internal": True}, headers=sup)
    assert r.status_code == 200, r.text
    assert await _public_ids(client, "возврат") == set()
    assert hit_ids(await client.get(f"{KB}/search", params={"q": "возврат"}, headers=desk.olga_h)) == [
        a["id"]
    ]
    click = await client.post(
        f"{PUBLIC}/searches/{searched['search_id']}/click", json={"article_id": a["id"]}
    )
    assert click.status_code == 422

    # Public again, then archived: gone for the portal and for agents.
    assert (
        await client.patch(f"{KB}/articles/{a['id']}", json={"internal": False}, headers=sup)
    ).status_code == 200
    assert await _public_ids(client, "возврат") == {a["id"]}
    r = await client.post(f"{KB}/articles/{a['id']}/status", json={"status": "archived"}, headers=sup)
    assert r.status_code == 200, r.text
    assert await _public_ids(client, "возврат") == set()
    assert hit_ids(await client.get(f"{KB}/search", params={"q": "возврат"}, headers=desk.olga_h)) == []

    # A new draft never reaches the portal, whatever it says.
    draft = await make_article(
        client, desk.olga_h, title="Возврат черновик", body_md="Возврат возврат возврат."
    )
    assert draft["id"] not in await _public_ids(client, "возврат черновик")


async def test_long_mixed_language_message_finds_both_articles(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    ru = await make_article(
        client, desk.olga_h, title="Возврат денег", body_md="Деньги вернутся на карту.", publish_h=sup
    )
    en = await make_article(
        client,
        desk.olga_h,
        language="en",
        title="Refund policy",
        body_md="Refunds go to the card.",
        publish_h=sup,
    )
    other = await make_article(
        client, desk.olga_h, title="Сроки доставки", body_md="Курьер привезёт за день.", publish_h=sup
    )
    message = ("Hello, where is my refund? Когда вернут деньги за возврат? " * 100)[:5000]
    found = hit_ids(await client.get(f"{PUBLIC}/search", params={"q": message}))
    assert set(found[:2]) == {ru["id"], en["id"]} and other["id"] not in found


async def test_another_processs_synonym_edit_is_seen_within_the_ttl(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pickup = await make_article(
        client, desk.olga_h, title="Пункты выдачи", body_md="Заказ ждёт 7 дней.", publish_h=desk.supervisor_h
    )
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "ПВЗ"})) == []
    # Written straight to the table, as another worker process would: this process's copy
    # is kept until it is SYNONYM_TTL seconds old.
    async with runtime.db.uow() as uow:
        now = utcnow()
        uow.session.add(KbSynonym(phrases=["ПВЗ", "пункт выдачи"], created_at=now, updated_at=now))
    monkeypatch.setattr(search, "SYNONYM_TTL", 0.0)
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "ПВЗ"})) == [pickup["id"]]
