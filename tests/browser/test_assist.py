"""Agent assistance in a real browser: the panel loads after the page, an article and a similar
solved ticket are offered, one goes into the composer, and the tone hint follows the typing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from opora.agents.models import Agent
from opora.runtime import Runtime
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow

ANSWER = "Иван, курьер приедет завтра с 10 до 14, трек-номер пришлём в SMS."


async def _post(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(url, json=body)
    assert r.status_code in (200, 201), r.text
    result: dict[str, Any] = r.json()
    return result


def _ticket(text: str, email: str, team_id: int) -> dict[str, Any]:
    return {
        "subject": "Доставка",
        "team_id": team_id,
        "customer": {"identity": {"kind": "email", "value": email}, "name": "Иван Петров"},
        "message": {"text": text, "author": "customer"},
    }


async def test_an_agent_sees_suggestions_inserts_one_and_gets_a_tone_hint(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    async with runtime.db.uow() as uow:
        agent = await uow.session.get(Agent, desk.olga.id)
        assert agent is not None
        agent.language = "ru"
    team = desk.support.id
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        article = await _post(
            api,
            "/api/v1/kb/articles",
            {
                "language": "ru",
                "title": "Курьер опаздывает с доставкой посылки",
                "body_md": "Если курьер не привёз посылку вовремя, напишите номер заказа.",
            },
        )
        await _post(api, f"/api/v1/kb/articles/{article['id']}/status", {"status": "published"})
        solved = await _post(
            api,
            "/api/v1/tickets",
            _ticket("Курьер не привёз посылку, где доставка?", "old@mail.example", team),
        )
        await _post(api, f"/api/v1/tickets/{solved['id']}/messages", {"text": ANSWER, "status": "solved"})
        ticket = await _post(
            api,
            "/api/v1/tickets",
            _ticket("Посылку курьер так и не привёз! Где доставка?", "ivan@mail.example", team),
        )

    cookie, _csrf = await session_for(runtime, desk.olga)
    context = await browser.new_context(viewport={"width": 1360, "height": 1000}, locale="ru-RU")
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    await page.goto(f"{server_url}/tickets/{ticket['id']}")

    panel = page.locator("#assist")
    await panel.locator(f"[data-article-id='{article['id']}']").wait_for(timeout=10_000)
    similar = panel.locator(f"[data-similar-ticket='{solved['id']}']")
    await similar.wait_for()
    await page.screenshot(path=str(artifacts / "assist-panel.png"), full_page=True)

    # The solved ticket's reply goes into the composer.
    await similar.get_by_role("button", name="Вставить ответ").click()
    area = page.locator("#composer-text")
    assert await area.input_value() == ANSWER
    # The article's link goes in too, at the cursor.
    await (
        panel.locator(f"[data-article-id='{article['id']}']")
        .get_by_role("button", name="Вставить ссылку")
        .click()
    )
    assert f"/help/ru/articles/{article['slug']}" in await area.input_value()

    # Typing a discouraged phrase brings a hint after a short pause; sending is not blocked.
    await area.fill("")
    await area.press_sequentially("Уважаемый клиент, курьер приедет завтра.", delay=10)
    hint = page.locator("#tone-hints [data-hint=discouraged]")
    await hint.wait_for(timeout=10_000)
    assert "уважаемый клиент" in (await hint.inner_text()).lower()
    await page.screenshot(path=str(artifacts / "assist-tone.png"), full_page=True)
    await page.click("[data-send]")
    await page.locator(".msg-out:not(.msg-note)").filter(has_text="Уважаемый клиент").wait_for()
    await context.close()
