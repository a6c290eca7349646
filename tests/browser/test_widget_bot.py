"""The bot in the chat widget: it answers with "did this help?" buttons, the visitor clicks
"No", and the agent finds the conversation with the bot's intent and confidence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.agents.models import Agent
from opora.bot.models import BotConversation
from opora.channels.models import Channel
from opora.runtime import Runtime
from tests.bot.support import make_bot_desk
from tests.browser.test_widget import KEY, _ticket_of, _write, shop  # noqa: F401  (the shop fixture)
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow


async def test_bot_answers_visitor_says_no_agent_sees_intent_and_confidence(
    browser: Any,
    server_url: str,
    shop: str,  # noqa: F811
    desk: Desk,
    runtime: Runtime,
    artifacts: Path,
) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.post(
            "/api/v1/channels",
            json={
                "type": "webchat",
                "name": "Чат",
                "settings": {"public_key": KEY, "team_id": desk.support.id},
            },
        )
        assert r.status_code == 201, r.text
    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, r.json()["id"])
        assert channel is not None
    await make_bot_desk(runtime, channel)
    async with runtime.db.uow() as uow:
        olga = await uow.session.get(Agent, desk.olga.id)
        assert olga is not None
        olga.presence = "online"  # agents on duty: the widget does not ask for an e-mail

    context = await browser.new_context(viewport={"width": 1000, "height": 760}, locale="en-US")
    visitor = await context.new_page()
    await visitor.goto(shop)
    await visitor.locator("#opora-chat[data-connected]").wait_for(state="attached")
    await visitor.locator("#opora-chat .launcher").click()
    await _write(visitor, "how much is delivery?")

    answer = visitor.locator("#opora-chat .row.bot").filter(has_text="delivery takes 1–2 days")
    await answer.wait_for(timeout=20_000)
    buttons = answer.locator("[data-quick] button")
    assert await buttons.all_inner_texts() == ["Yes", "No"]
    await visitor.screenshot(path=str(artifacts / "widget-bot.png"))
    await buttons.filter(has_text="No").click()
    handoff = visitor.locator("#opora-chat .row.bot").filter(has_text="a person from our support team")
    await handoff.wait_for(timeout=20_000)
    # The buttons go away once answered.
    assert await visitor.locator("#opora-chat [data-quick]").count() == 0

    ticket = await _ticket_of(runtime, "how much is delivery?")
    for _ in range(100):
        async with runtime.db.uow() as uow:
            conv = (await uow.session.scalars(select(BotConversation))).one()
        if conv.status != "active":
            break
        await asyncio.sleep(0.1)
    assert (conv.status, conv.end_reason, conv.intent) == ("handed_off", "not_helped", "delivery")

    cookie, _csrf = await session_for(runtime, desk.olga)
    agent_context = await browser.new_context(viewport={"width": 1300, "height": 850})
    await agent_context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    agent = await agent_context.new_page()
    await agent.goto(f"{server_url}/tickets/{ticket.id}")
    await agent.get_by_text("delivery takes 1–2 days").first.wait_for()
    note = agent.locator(".msg-note").filter(has_text="Intent: delivery")
    await note.wait_for()
    assert f"{round((conv.confidence or 0) * 100)}%" in await note.inner_text()
    assert await agent.locator(".author-bot").count() >= 3  # answer, hand-off, note
    await agent.screenshot(path=str(artifacts / "ticket-bot-handoff.png"))
    await agent_context.close()
    await context.close()
