"""Where the bot talks: the per-channel settings API, its defaults and its refusals."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opora.bot.models import BotChannel
from opora.channels import service as channels_service
from opora.channels.schemas import ChannelCreate
from opora.runtime import Runtime
from tests.channels.email.e2e_support import email_channel
from tests.support.factories import Desk


async def _stored(runtime: Runtime) -> list[tuple[int, bool, list[str]]]:
    async with runtime.db.uow() as uow:
        rows = (await uow.session.scalars(select(BotChannel).order_by(BotChannel.channel_id))).all()
        return [(r.channel_id, r.enabled, r.languages) for r in rows]


async def test_defaults_then_an_admin_turns_the_bot_on_for_email(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    mail = await email_channel(runtime)
    async with runtime.db.uow() as uow:
        chat = await channels_service.create_channel(
            uow, runtime, ChannelCreate(type="webchat", name="Chat", settings={"public_key": "chat-key-123"})
        )
    r = await client.get("/api/v1/bot/channels", headers=desk.admin_h)
    assert r.status_code == 200
    listed = {c["channel_type"]: c for c in r.json()}
    assert (listed["webchat"]["enabled"], listed["webchat"]["default"]) == (True, True)
    assert (listed["email"]["enabled"], listed["email"]["supported"]) == (False, True)
    r = await client.put(
        f"/api/v1/bot/channels/{mail.id}", json={"enabled": True, "languages": ["en"]}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["enabled"], r.json()["languages"], r.json()["default"]) == (True, ["en"], False)
    r = await client.put(f"/api/v1/bot/channels/{chat.id}", json={"enabled": False}, headers=desk.admin_h)
    assert r.json()["enabled"] is False
    assert await _stored(runtime) == [(mail.id, True, ["en"]), (chat.id, False, ["ru", "en"])]


async def test_refusals_change_nothing(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    mail = await email_channel(runtime)
    async with runtime.db.uow() as uow:
        api = await channels_service.create_channel(uow, runtime, ChannelCreate(type="api", name="Shop API"))
    cases = [
        (f"/api/v1/bot/channels/{api.id}", {"enabled": True, "languages": ["ru"]}, desk.admin_h, 422),
        (f"/api/v1/bot/channels/{mail.id}", {"enabled": True, "languages": []}, desk.admin_h, 422),
        (f"/api/v1/bot/channels/{mail.id}", {"enabled": True, "languages": ["de"]}, desk.admin_h, 422),
        ("/api/v1/bot/channels/999999", {"enabled": True, "languages": ["ru"]}, desk.admin_h, 404),
        (f"/api/v1/bot/channels/{mail.id}", {"enabled": True, "languages": ["ru"]}, desk.olga_h, 403),
    ]
    for url, body, headers, status in cases:
        r = await client.put(url, json=body, headers=headers)
        assert r.status_code == status, (url, body, r.text)
    assert await _stored(runtime) == []
    r = await client.get(f"/api/v1/bot/channels/{api.id}", headers=desk.admin_h)
    assert (r.json()["supported"], r.json()["enabled"]) == (False, False)
    r = await client.get("/api/v1/bot/conversations/424242", headers=desk.admin_h)
    assert r.status_code == 404
