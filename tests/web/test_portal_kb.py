"""The public portal's knowledge-base pages: what a visitor may see, search, suggestions, votes."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from opora.kb.models import KbArticle, KbVote
from opora.runtime import Runtime
from tests.kb.conftest import KB, make_article
from tests.support.factories import Desk
from tests.web.helpers import count_queries


async def _shop(client: httpx.AsyncClient, desk: Desk) -> dict[str, Any]:
    """A category with a section, and articles in every state a visitor must or must not see."""
    r = await client.post(
        f"{KB}/categories",
        json={"slug": "delivery", "title": {"ru": "Доставка", "en": "Delivery"}},
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    category = r.json()
    r = await client.post(
        f"{KB}/sections",
        json={"category_id": category["id"], "slug": "pickup", "title": {"ru": "Самовывоз", "en": "Pickup"}},
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    section = r.json()
    h, pub = desk.admin_h, desk.admin_h
    draft = await make_article(
        client,
        h,
        title="Черновик о возврате",
        body_md="Секретный черновик возврата.",
        section_id=section["id"],
    )
    internal = await make_article(
        client, h, publish_h=pub, title="Внутренняя памятка о возврате", body_md="Только для агентов: возврат.",
        internal=True, section_id=section["id"],
    )  # fmt: skip
    archived = await make_article(
        client, h, publish_h=pub, title="Старые правила возврата", body_md="Устаревшие правила возврата."
    )
    r = await client.post(f"{KB}/articles/{archived['id']}/status", json={"status": "archived"}, headers=pub)
    assert r.status_code == 200
    public = await make_article(
        client, h, publish_h=pub, title="Как вернуть товар", section_id=section["id"],
        body_md="Вернуть товар можно в течение **14 дней** в пункте выдачи.\n\n<script>alert(1)</script>",
        related_ids=[draft["id"], internal["id"]],
    )  # fmt: skip
    english = await make_article(
        client, h, publish_h=pub, language="en", title="How to return an item", translation_of=public["id"],
        body_md="You can return an item within 14 days.", section_id=section["id"],
    )  # fmt: skip
    other = await make_article(
        client, h, publish_h=pub, title="Сроки доставки", body_md="Доставка занимает 3 дня.",
        related_ids=[public["id"], draft["id"]],
    )  # fmt: skip
    return {
        "category": category, "section": section, "draft": draft, "internal": internal,
        "archived": archived, "public": public, "english": english, "other": other,
    }  # fmt: skip


HIDDEN = ("Черновик о возврате", "Внутренняя памятка", "Старые правила возврата")


def _assert_hidden(html: str) -> None:
    for title in HIDDEN:
        assert title not in html, title


async def test_only_published_public_articles_reach_any_portal_page(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    kb = await _shop(client, desk)
    r = await client.get("/help", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.status_code == 303 and r.headers["location"] == "/help/en"
    pages = [
        "/help/ru",
        "/help/ru/categories/delivery",
        "/help/ru/sections/pickup",
        "/help/ru/search?q=возврат",
        "/help/ru/search?q=вернуть",
        "/help/ru/suggest?q=возвр",
        "/help/ru/articles/" + kb["other"]["slug"],
        "/help/sitemap.xml",
    ]
    for url in pages:
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        _assert_hidden(r.text)
    r = await client.get("/help/ru/search?q=вернуть")
    assert f"/help/ru/articles/{kb['public']['slug']}?s=" in r.text
    r = await client.get("/help/sitemap.xml")
    assert r.headers["content-type"].startswith("application/xml")
    assert f"/help/ru/articles/{kb['public']['slug']}" in r.text
    assert f"/help/en/articles/{kb['english']['slug']}" in r.text
    assert r.text.count("<url>") == 2 + 3  # two home pages and the three public articles
    # By URL, anything not public does not exist, in any language.
    for key in ("draft", "internal", "archived"):
        r = await client.get(f"/help/ru/articles/{kb[key]['slug']}", headers={"Accept": "text/html"})
        assert r.status_code == 404, key
        assert "Не найдено" in r.text
    assert (await client.get(f"/help/en/articles/{kb['public']['slug']}")).status_code == 404
    assert (await client.get("/help/de")).status_code == 404
    assert (await client.get("/help/ru/categories/nope")).status_code == 404


async def test_article_page_is_sanitised_indexable_and_linked_to_its_translation(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    kb = await _shop(client, desk)
    r = await client.get(f"/help/ru/articles/{kb['public']['slug']}")
    assert r.status_code == 200
    html = r.text
    assert "<strong>14 дней</strong>" in html
    assert "<script>alert(1)</script>" not in html  # raw HTML in Markdown stays text
    assert f'<link rel="canonical" href="http://testserver/help/ru/articles/{kb["public"]["slug"]}">' in html
    assert '<meta name="description" content="Вернуть товар можно в течение 14 дней в пункте выдачи.' in html
    assert f'hreflang="en" href="http://testserver/help/en/articles/{kb["english"]["slug"]}"' in html
    assert '<html lang="ru">' in html and "Доставка" in html and "Самовывоз" in html  # breadcrumbs
    _assert_hidden(html)  # its related draft and internal articles are not linked
    r = await client.get(f"/help/ru/articles/{kb['other']['slug']}")
    assert f"/help/ru/articles/{kb['public']['slug']}" in r.text  # the public related article is
    r = await client.get(f"/help/en/articles/{kb['english']['slug']}")
    assert '<html lang="en">' in r.text and "Was this article helpful?" in r.text
    assert f'href="/help/ru/articles/{kb["public"]["slug"]}"' in r.text  # the language switch


async def test_search_highlights_and_records_the_click(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    kb = await _shop(client, desk)
    r = await client.get("/help/ru/search", params={"q": "вернуть товар"})
    assert r.status_code == 200
    assert "<mark>" in r.text and "noindex" in r.text
    found = re.search(r'href="(/help/ru/articles/[^"?]+)\?s=(\d+)"', r.text)
    assert found is not None
    r = await client.get(f"{found.group(1)}?s={found.group(2)}")
    assert r.status_code == 200
    r = await client.get(f"/help/ru/articles/{kb['other']['slug']}?s=999999")  # a stale id: still the page
    assert r.status_code == 200
    # Hostile and odd queries answer a page, never an error.
    for q in ['"NEAR(', "возврат OR 1=1; --", "*", "x" * 5000, "", "   "]:
        r = await client.get("/help/ru/search", params={"q": q})
        assert r.status_code == 200, q
    r = await client.get("/help/ru/search", params={"q": "x" * 5001})
    assert r.status_code == 422


async def test_suggestions_while_typing_find_unfinished_words(client: httpx.AsyncClient, desk: Desk) -> None:
    await _shop(client, desk)
    r = await client.get("/help/ru/suggest", params={"q": "вернуть тов"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "Как <mark>вернуть</mark> <mark>товар</mark>" in r.text and "<html" not in r.text
    r = await client.get("/help/ru/suggest", params={"q": "zzzzqqq"})
    assert "Как вернуть" not in r.text


async def test_vote_with_comment_and_bad_votes_change_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    kb = await _shop(client, desk)
    url = f"/help/ru/articles/{kb['public']['slug']}/vote"
    r = await client.post(url, data={"helpful": "maybe"}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "«Да» или «Нет»" in r.text
    r = await client.post(url, data={"helpful": "no", "comment": "x" * 2001}, headers={"HX-Request": "true"})
    assert r.status_code == 422
    r = await client.post(url, data={"helpful": "no"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = await client.post(f"/help/ru/articles/{kb['draft']['slug']}/vote", data={"helpful": "yes"})
    assert r.status_code == 404
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(KbVote))).all() == []
    r = await client.post(
        url, data={"helpful": "no", "comment": "Нет адреса пункта"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "Спасибо" in r.text
    r = await client.post(url, data={"helpful": "yes"})  # without JavaScript: back to the page
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        article = await uow.session.get(KbArticle, kb["public"]["id"])
        assert article is not None
        assert (article.helpful_count, article.not_helpful_count) == (1, 1)
        votes = (await uow.session.scalars(select(KbVote))).all()
        assert sorted(v.comment or "" for v in votes) == ["", "Нет адреса пункта"]


async def test_still_need_help_links_to_the_hosted_form(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post(
        "/api/v1/channels",
        json={"type": "webform", "name": "Форма", "settings": {"public_key": "help-form-key-123"}},
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    r = await client.get("/help/en")
    assert 'href="/forms/help-form-key-123?lang=en"' in r.text
    assert "Still need help?" in r.text


async def test_portal_pages_use_a_fixed_number_of_queries(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    kb = await _shop(client, desk)
    for extra in range(5):  # more articles must not mean more queries
        await make_article(client, desk.admin_h, publish_h=desk.admin_h, title=f"Вопрос о доставке {extra}")
    # (url, most statements): the numbers measured when written, so a new N+1 fails here.
    pages = {
        "home": ("/help/ru", 5),
        "article": (f"/help/ru/articles/{kb['other']['slug']}", 6),
        "search": ("/help/ru/search?q=доставка", 8),
        "suggest": ("/help/ru/suggest?q=доставк", 5),
    }
    for name, (url, most) in pages.items():
        with count_queries(runtime) as statements:
            r = await client.get(url)
        assert r.status_code == 200
        assert len(statements) <= most, (name, statements)
