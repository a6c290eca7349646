"""What the public may find follows each article's state at search time, and a few inputs the
portal meets: long mixed-language messages, a synonym edited by another process."""

from __future__ import annotations

import httpx
import pytest

from opora.kb.models import KbSynonym
from opora.kb.search import service as search
from opora.kit.text import stem
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


async def test_visibility_words_of_the_index_are_not_searchable(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    # The index keeps each article's status, visibility and language as words of a column of
    # its own; what a visitor types must never match them.
    await make_article(
        client,
        desk.olga_h,
        title="Сроки доставки",
        body_md="Курьер привезёт за день.",
        publish_h=desk.supervisor_h,
    )
    for q in ("published", "public ru", "draft internal", "scope published"):
        assert await _public_ids(client, q) == set(), q
        assert hit_ids(await client.get(f"{KB}/search", params={"q": q}, headers=desk.olga_h)) == [], q


async def test_language_and_drafts_follow_the_scope(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    ru = await make_article(client, desk.olga_h, title="Доставка курьером", body_md="Курьер.", publish_h=sup)
    en = await make_article(
        client, desk.olga_h, language="en", title="Courier delivery", body_md="Курьер.", publish_h=sup
    )
    draft = await make_article(client, desk.olga_h, title="Курьер черновик", body_md="Курьер.")
    by_language = {
        lang: set(hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "курьер", "language": lang})))
        for lang in ("ru", "en")
    }
    assert by_language == {"ru": {ru["id"]}, "en": {en["id"]}}
    agent = f"{KB}/search"
    assert set(hit_ids(await client.get(agent, params={"q": "курьер"}, headers=desk.olga_h))) == {
        ru["id"],
        en["id"],
    }
    with_drafts = await client.get(agent, params={"q": "курьер", "drafts": "true"}, headers=desk.olga_h)
    assert set(hit_ids(with_drafts)) == {ru["id"], en["id"], draft["id"]}


async def test_known_words_skip_the_vocabulary_look_up_but_typos_are_still_fixed(
    client: httpx.AsyncClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await make_article(
        client,
        desk.olga_h,
        title="Возврат товара",
        body_md="Вернуть товар можно.",
        publish_h=desk.supervisor_h,
    )
    looked_up: list[list[str]] = []
    real = search.repository.vocabulary_for

    async def counting(uow, known, near):  # type: ignore[no-untyped-def]
        looked_up.append(sorted(near))
        return await real(uow, known, near)

    monkeypatch.setattr(search.repository, "vocabulary_for", counting)
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "возврат товара"})) == [a["id"]]
    assert len(looked_up) == 1
    # The same words again: known since the first search committed, so no look-up.
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "товара возврат"})) == [a["id"]]
    assert len(looked_up) == 1
    # A typo is still looked up and corrected.
    r = await client.get(f"{PUBLIC}/search", params={"q": "возрват"})
    assert hit_ids(r) == [a["id"]] and r.json()["corrections"]
    assert looked_up[-1] == [stem("возрват")]
