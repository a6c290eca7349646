"""The knowledge-base screens of the workspace: list, editor, preview, publishing, history,
taxonomy, synonyms and content gaps; refusals change nothing."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from opora.kb.models import KbArticle, KbArticleVersion, KbCategory, KbSynonym
from opora.runtime import Runtime
from tests.kb.conftest import make_article
from tests.support.factories import Desk
from tests.web.conftest import PageSession


async def _count(runtime: Runtime, model: object) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


async def _article(runtime: Runtime, article_id: int) -> KbArticle:
    async with runtime.db.uow() as uow:
        article = await uow.session.get(KbArticle, article_id)
        assert article is not None
        return article


ARTICLE = {
    "language": "ru",
    "title": "Как отследить заказ",
    "body_md": "Откройте **Мои заказы** и нажмите «Отследить».",
    "section_id": "",
    "kind": "article",
    "slug": "",
    "tags": "заказ, доставка",
    "related_ids": "",
    "position": "0",
    "note": "Первая версия",
}


async def test_an_agent_writes_a_draft_and_a_supervisor_publishes_it(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get("/inbox")
    assert 'href="/admin/kb/articles"' in r.text  # the workspace navigation links the knowledge base
    r = await olga.post("/admin/kb/articles", data=ARTICLE)
    assert r.status_code == 303, r.text
    article_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    r = await olga.get(f"/admin/kb/articles/{article_id}?done=created")
    assert r.status_code == 200
    assert "<strong>Мои заказы</strong>" in r.text  # the preview of the stored text
    assert 'data-status="draft"' in r.text and "/status" not in r.text  # an agent has no publish button
    # An agent may not publish: refused, nothing changes.
    r = await olga.post(f"/admin/kb/articles/{article_id}/status", data={"status": "published"})
    assert r.status_code == 403
    assert (await _article(runtime, article_id)).status == "draft"
    assert (await client.get("/help/ru/articles/kak-otsledit-zakaz")).status_code == 404
    sergey: PageSession = await login(desk.supervisor)  # type: ignore[operator]
    r = await sergey.post(f"/admin/kb/articles/{article_id}/status", data={"status": "published"})
    assert r.status_code == 303
    r = await client.get("/help/ru/articles/kak-otsledit-zakaz")
    assert r.status_code == 200 and "Как отследить заказ" in r.text
    # Once public, only a supervisor or admin may edit it.
    r = await olga.post(f"/admin/kb/articles/{article_id}", data={**ARTICLE, "title": "Другое"})
    assert r.status_code == 403 and "The form has errors" not in r.text
    assert (await _article(runtime, article_id)).title == "Как отследить заказ"
    # Without the CSRF token nothing is saved.
    r = await sergey.post(
        f"/admin/kb/articles/{article_id}", data={**ARTICLE, "title": "Без токена"}, csrf=False
    )
    assert r.status_code == 403
    assert (await _article(runtime, article_id)).title == "Как отследить заказ"


async def test_bad_input_is_shown_beside_the_field_and_saves_nothing(
    desk: Desk, admin_page: PageSession, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    before = await _count(runtime, KbArticle)
    cases = [
        ({"title": ""}, "title"),
        ({"slug": "Не латиница!"}, "slug"),
        ({"language": "de"}, "language"),
        ({"related_ids": "1, два"}, "related_ids"),
        ({"related_ids": "999999"}, "related_ids"),
        ({"section_id": "424242"}, "section_id"),
        ({"position": "много"}, "position"),
    ]
    for change, field in cases:
        r = await admin_page.post(
            "/admin/kb/articles", data={**ARTICLE, **change}, headers={"Accept-Language": "en"}
        )
        assert r.status_code == 422, (change, r.status_code)
        assert f'id="err-{field}"' in r.text, change
        assert "ничего не сохранено" in r.text
    assert await _count(runtime, KbArticle) == before
    # A slug taken in the language: 409, beside the slug field.
    await make_article(client, desk.admin_h, title="Занято", slug="taken")
    r = await admin_page.post("/admin/kb/articles", data={**ARTICLE, "slug": "taken"})
    assert r.status_code == 409 and 'id="err-slug"' in r.text
    assert await _count(runtime, KbArticle) == before + 1


async def test_preview_is_sanitised(admin_page: PageSession) -> None:
    r = await admin_page.post(
        "/admin/kb/preview",
        data={"body_md": "# Заголовок\n\n<img src=x onerror=alert(1)>\n\n[ссылка](javascript:alert(1))"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "<h1>Заголовок</h1>" in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text  # raw HTML is shown as text
    assert 'href="javascript' not in r.text
    assert 'id="kb-preview"' in r.text and "<html" not in r.text


async def test_list_filters_history_and_restore(
    client: httpx.AsyncClient, desk: Desk, admin_page: PageSession, runtime: Runtime
) -> None:
    ru = await make_article(client, desk.admin_h, title="Оплата картой", body_md="Первый текст.")
    en = await make_article(
        client, desk.admin_h, publish_h=desk.admin_h, language="en", title="Paying by card"
    )
    r = await admin_page.get("/admin/kb/articles?language=en")
    assert f'data-article-id="{en["id"]}"' in r.text and f'data-article-id="{ru["id"]}"' not in r.text
    r = await admin_page.get("/admin/kb/articles?status=draft")
    assert f'data-article-id="{ru["id"]}"' in r.text and f'data-article-id="{en["id"]}"' not in r.text
    r = await admin_page.get("/admin/kb/articles?status=bogus&language=xx&category=abc")
    assert r.status_code == 200 and f'data-article-id="{en["id"]}"' in r.text  # junk filters are ignored
    form = {**ARTICLE, "title": "Оплата картой", "body_md": "Второй текст.", "note": "переписал"}
    r = await admin_page.post(f"/admin/kb/articles/{ru['id']}", data=form)
    assert r.status_code == 303
    r = await admin_page.get(f"/admin/kb/articles/{ru['id']}/versions")
    assert 'data-version="2"' in r.text and "переписал" in r.text and "Anna" in r.text
    r = await admin_page.post(f"/admin/kb/articles/{ru['id']}/restore", data={"version": "1"})
    assert r.status_code == 303
    article = await _article(runtime, ru["id"])
    assert article.body_md == "Первый текст." and article.version == 3
    r = await admin_page.post(f"/admin/kb/articles/{ru['id']}/restore", data={"version": "77"})
    assert r.status_code == 404
    assert (await _article(runtime, ru["id"])).version == 3
    async with runtime.db.uow() as uow:
        versions = await uow.session.scalar(
            select(func.count()).select_from(KbArticleVersion).where(KbArticleVersion.article_id == ru["id"])
        )
    assert versions == 3
    # A translation starts from the other language and joins the group.
    r = await admin_page.get(f"/admin/kb/articles/new?translation_of={ru['id']}")
    assert re.search(r'<option value="en" selected>', r.text)


async def test_taxonomy_synonyms_and_gaps_are_for_admins(
    client: httpx.AsyncClient, desk: Desk, admin_page: PageSession, login: object, runtime: Runtime
) -> None:
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    for url in ("/admin/kb/categories", "/admin/kb/synonyms", "/admin/kb/gaps"):
        r = await olga.get(url, headers={"Accept": "text/html"})
        assert r.status_code == 403, url
    r = await olga.post("/admin/kb/categories", data={"slug": "x", "title_ru": "Икс"})
    assert r.status_code == 403 and await _count(runtime, KbCategory) == 0
    r = await admin_page.post("/admin/kb/categories", data={"slug": "Плохой слаг", "title_ru": "Доставка"})
    assert r.status_code == 422 and await _count(runtime, KbCategory) == 0
    r = await admin_page.post(
        "/admin/kb/categories", data={"slug": "delivery", "title_ru": "", "title_en": ""}
    )
    assert r.status_code == 422 and await _count(runtime, KbCategory) == 0
    r = await admin_page.post(
        "/admin/kb/categories", data={"slug": "delivery", "title_ru": "Доставка", "title_en": "Delivery"}
    )
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        category = (await uow.session.scalars(select(KbCategory))).one()
    r = await admin_page.post(
        "/admin/kb/sections",
        data={"category_id": str(category.id), "slug": "pickup", "title_ru": "Самовывоз"},
    )
    assert r.status_code == 303
    r = await admin_page.post(
        "/admin/kb/sections", data={"category_id": "999", "slug": "other", "title_ru": "Другое"}
    )
    assert r.status_code == 422
    r = await admin_page.get("/admin/kb/categories")
    assert "Самовывоз" in r.text and "Доставка" in r.text
    r = await admin_page.post(
        f"/admin/kb/categories/{category.id}", data={"slug": "dostavka", "title_ru": "Доставка!"}
    )
    assert r.status_code == 303
    # Synonyms: a group needs two different phrases.
    r = await admin_page.post("/admin/kb/synonyms", data={"phrases": "ПВЗ"})
    assert r.status_code == 422 and await _count(runtime, KbSynonym) == 0
    r = await admin_page.post("/admin/kb/synonyms", data={"phrases": "ПВЗ, пункт выдачи"})
    assert r.status_code == 303 and await _count(runtime, KbSynonym) == 1
    async with runtime.db.uow() as uow:
        group = (await uow.session.scalars(select(KbSynonym))).one()
    r = await admin_page.post(
        f"/admin/kb/synonyms/{group.id}", data={"phrases": "ПВЗ, пункт выдачи, постамат"}
    )
    assert r.status_code == 303
    r = await admin_page.get("/admin/kb/synonyms")
    assert "ПВЗ, пункт выдачи, постамат" in r.text
    # Content gaps: a portal search that found nothing, and an unhelpful article.
    await client.get("/help/ru/search", params={"q": "гарантийный талон"})
    article = await make_article(
        client, desk.admin_h, publish_h=desk.admin_h, title="Гарантия", slug="garantiya"
    )
    for _ in range(3):
        await client.post(
            "/help/ru/articles/garantiya/vote", data={"helpful": "no", "comment": "мало деталей"}
        )
    r = await admin_page.get("/admin/kb/gaps")
    assert r.status_code == 200
    assert "гарантийный талон" in r.text
    assert f"/admin/kb/articles/{article['id']}" in r.text and "мало деталей" in r.text
    r = await admin_page.post(f"/admin/kb/synonyms/{group.id}", data={"delete": "1"})
    assert r.status_code == 303 and await _count(runtime, KbSynonym) == 0
