"""The bot section of a channel's admin page: shown, saved, and a refusal explained."""

from __future__ import annotations

from sqlalchemy import select

from opora.bot.models import BotChannel
from opora.runtime import Runtime
from tests.channels.email.e2e_support import email_channel
from tests.web.conftest import PageSession


async def test_the_bot_is_turned_on_for_a_mailbox_from_the_channel_page(
    admin_page: PageSession, runtime: Runtime
) -> None:
    mail = await email_channel(runtime)
    page = await admin_page.get(f"/admin/channels/{mail.id}")
    assert page.status_code == 200
    assert "data-bot-settings" in page.text and 'name="bot_enabled"' in page.text
    assert 'name="bot_enabled" value="1" checked' not in page.text  # email: off by default
    refused = await admin_page.post(f"/admin/channels/{mail.id}/bot", data={"bot_enabled": "1"})
    assert refused.status_code == 422
    assert "Выберите хотя бы один язык для бота." in refused.text  # the page speaks Russian
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(BotChannel))).all() == []
    saved = await admin_page.post(
        f"/admin/channels/{mail.id}/bot", data={"bot_enabled": "1", "bot_language": ["ru"]}
    )
    assert saved.status_code == 303
    async with runtime.db.uow() as uow:
        row = (await uow.session.scalars(select(BotChannel))).one()
        assert (row.channel_id, row.enabled, row.languages) == (mail.id, True, ["ru"])
    page = await admin_page.get(f"/admin/channels/{mail.id}")
    assert 'name="bot_enabled" value="1" checked' in page.text
