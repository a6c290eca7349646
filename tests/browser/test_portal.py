"""The help centre in a real browser: an admin writes and publishes an article in the workspace,
a visitor finds it through suggestions while typing, opens it and votes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opora.kb.models import KbArticle, KbVote
from opora.runtime import Runtime
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow


async def test_admin_publishes_and_a_visitor_finds_reads_and_votes(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    cookie, _csrf = await session_for(runtime, desk.admin)
    admin = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="ru-RU")
    await admin.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await admin.new_page()
    await page.goto(f"{server_url}/inbox")
    await page.get_by_role("link", name="База знаний").click()
    await page.wait_for_url("**/admin/kb/articles")
    await page.get_by_role("link", name="Новая статья").first.click()
    await page.fill("#kb-title", "Сроки доставки заказа")
    await page.fill("#kb-slug", "sroki-dostavki")
    await page.fill("#kb-body", "Доставка по Москве занимает **1–2 дня**, по России — до 7 дней.")
    # The preview follows the text as it is typed (htmx), rendered and sanitised by the server.
    await page.locator("#kb-preview strong", has_text="1–2 дня").wait_for()
    await page.screenshot(path=str(artifacts / "kb-editor.png"), full_page=True)
    await page.get_by_role("button", name="Сохранить").click()
    await page.wait_for_url("**/admin/kb/articles/*?done=created")
    await page.get_by_role("button", name="Опубликовать").click()
    await page.locator('[data-status="published"]').wait_for()
    async with runtime.db.uow() as uow:
        article = (
            await uow.session.scalars(select(KbArticle).where(KbArticle.slug == "sroki-dostavki"))
        ).one()
        assert article.status == "published" and article.version == 2

    visitor_context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    visitor = await visitor_context.new_page()
    await visitor.goto(f"{server_url}/help")
    await visitor.wait_for_url("**/help/ru")
    await visitor.locator("#portal-q").press_sequentially("сроки доста", delay=40)
    suggestion = visitor.locator("#portal-suggestions a", has_text="доставки")
    await suggestion.wait_for()
    assert "<mark>" in await suggestion.inner_html()
    await visitor.screenshot(path=str(artifacts / "portal-suggestions.png"), full_page=True)
    await suggestion.click()
    await visitor.wait_for_url("**/help/ru/articles/sroki-dostavki")
    assert await visitor.locator("h1").inner_text() == "Сроки доставки заказа"
    assert await visitor.locator('link[rel="canonical"]').get_attribute("href") == (
        f"{runtime.settings.public_url}/help/ru/articles/sroki-dostavki"
    )
    await visitor.fill("#vote-comment", "А в Казань?")
    await visitor.get_by_role("button", name="Нет").click()
    await visitor.get_by_text("Спасибо за ответ!").wait_for()
    await visitor.screenshot(path=str(artifacts / "portal-article.png"), full_page=True)
    async with runtime.db.uow() as uow:
        votes = (await uow.session.scalars(select(KbVote).where(KbVote.article_id == article.id))).all()
        assert [(v.helpful, v.comment) for v in votes] == [(False, "А в Казань?")]
    await visitor_context.close()
    await admin.close()
