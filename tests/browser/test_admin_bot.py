"""The bot's admin screen in a real browser, in Russian: an intent added through the form, a
retraining asked for at once and done by the server's worker, a refused limit that changes
nothing, and the probe naming the intent the new version picks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opora.bot import service
from opora.bot.models import BotModel, BotSettings
from opora.bot.schemas import IntentCreate
from opora.runtime import Runtime
from tests.bot.support import INTENTS
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow

DELIVERY = INTENTS["delivery"][2]


async def _seed_all_but_delivery(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        for key, (reply, handoff, examples) in INTENTS.items():
            if key != "delivery":
                data = IntentCreate(
                    language="en", key=key, title=key, reply=reply or "", handoff=handoff, examples=examples
                )
                await service.create_intent(uow, data)
        # About thirty phrases cannot show 2% wrong answers; a small shop accepts 10%.
        uow.session.add(BotSettings(language="en", max_wrong_rate=0.1))


async def _settings(runtime: Runtime) -> float:
    async with runtime.db.uow() as uow:
        found = await uow.session.scalar(
            select(BotSettings.max_wrong_rate).where(BotSettings.language == "en")
        )
    assert found is not None
    return float(found)


async def test_admin_adds_an_intent_retrains_now_and_tries_the_bot(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    await _seed_all_but_delivery(runtime)
    cookie, _csrf = await session_for(runtime, desk.admin)
    context = await browser.new_context(viewport={"width": 1360, "height": 1000}, locale="ru-RU")
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    await page.goto(f"{server_url}/inbox")
    await page.get_by_role("link", name="Администрирование").click()
    await page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Бот").click()
    await page.wait_for_url("**/admin/bot*")
    await page.get_by_role("link", name="Английский").click()
    await page.wait_for_url("**/admin/bot?language=en")
    await page.locator("[data-bot-untrained]").wait_for()

    await page.get_by_role("link", name="Добавить намерение").click()
    await page.fill("#intent-key", "delivery")
    await page.fill("#intent-title", "Доставка")
    await page.fill("#intent-reply", "Delivery takes 1–2 days.")
    await page.fill("#intent-examples", "\n".join(DELIVERY))
    await page.get_by_role("button", name="Сохранить и переобучить").click()
    await page.wait_for_url("**/admin/bot?language=en&done=created")
    row = page.locator("tr[data-intent-id]", has_text="delivery")
    assert "6" in await row.locator("td").nth(2).inner_text()
    assert await row.locator("[data-few-phrases]").inner_text() == "мало: добавьте фразы"

    # The edits queued a retraining half a minute away; "retrain now" brings it forward, and the
    # server's own worker trains the new version.
    await page.get_by_role("button", name="Переобучить сейчас").click()
    await page.wait_for_url("**done=training")
    deadline = time.monotonic() + 15
    while not await page.locator("[data-bot-answered]").count():
        assert time.monotonic() < deadline, "no trained version within 15 s of 'retrain now'"
        await page.wait_for_timeout(500)
        await page.goto(f"{server_url}/admin/bot?language=en")
    async with runtime.db.uow() as uow:
        versions = (await uow.session.scalars(select(BotModel).where(BotModel.language == "en"))).all()
    assert [v.status for v in versions] == ["active"] and versions[0].examples == 29
    await page.screenshot(path=str(artifacts / "admin-bot.png"), full_page=True)

    # A limit above 50% is refused where it was typed, and the stored one stays.
    await page.fill("#bot-wrong", "70")
    await (
        page.locator("form[action$='/settings']")
        .get_by_role("button", name="Сохранить и переобучить")
        .click()
    )
    problem = page.locator("#bot-wrong[aria-invalid='true']")
    await problem.wait_for()
    assert (
        "Укажите долю больше 0% и не больше 50%."
        in await page.get_by_role("region", name="Допустимые неверные ответы").inner_text()
    )
    assert await _settings(runtime) == pytest.approx(0.1)

    await page.fill("#bot-message", "how much is delivery?")
    await page.get_by_role("button", name="Проверить").click()
    probe = page.locator("[data-bot-probe]")
    await probe.wait_for()
    text = await probe.inner_text()
    assert "Бот ответил бы по намерению delivery" in text, text
    await page.screenshot(path=str(artifacts / "admin-bot-probe.png"), full_page=True)
    await context.close()
