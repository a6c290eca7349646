"""The bot on Telegram against the local fake Bot API: an answer with an inline keyboard, a
button press (callback_query) through the real webhook, and the bot's resolution."""

from __future__ import annotations

import json

import httpx
import pytest

from opora.bot import service
from opora.bot.models import BotConversation
from opora.channels.base import UnparseablePayload
from opora.channels.telegram.parse import parse_update
from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.bot.fakes import WordHashEmbedder
from tests.bot.support import button_press, make_bot_desk, rows, timeline, update
from tests.channels.telegram.support import drain, fake_api, post_update, telegram_channel
from tests.support.factories import Desk


async def test_did_this_help_buttons_round_trip(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "bot_embedder", WordHashEmbedder)
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake, team_id=desk.support.id)
        await make_bot_desk(runtime, channel)
        assert (
            await post_update(client, channel, update("how much is delivery?", chat_id=555))
        ).status_code < 300
        await drain(runtime)
        sent = fake.calls_of("sendMessage")
        assert len(sent) == 1
        assert sent[0].params["chat_id"] == 555
        assert sent[0].params["text"] == "Ivan, delivery takes 1–2 days.\n\nDid this help?"
        assert sent[0].params["reply_markup"] == {
            "inline_keyboard": [
                [{"text": "Yes", "callback_data": "bot:yes"}, {"text": "No", "callback_data": "bot:no"}]
            ]
        }
        bot_message = next(m for m in await _messages(runtime) if m.author_type == "bot")
        assert bot_message.delivery_status == "sent" and bot_message.external_id
        press = button_press(bot_message, "bot:yes", chat_id=555, label="Yes")
        assert (await post_update(client, channel, press)).status_code < 300
        await drain(runtime)
        [conv] = await rows(runtime, BotConversation)
        assert (conv.status, conv.intent) == ("resolved", "delivery")
        found = await timeline(runtime)
        assert found[2] == ("customer", False, "Yes")  # the button's label, threaded into the ticket
        assert fake.calls_of("sendMessage")[-1].params["text"].startswith("Glad I could help!")
        # The press was answered, so the button's spinner stops in the customer's app.
        [answered] = fake.calls_of("answerCallbackQuery")
        assert answered.params["callback_query_id"] == press["callback_query"]["id"]


async def _messages(runtime: Runtime) -> list[Message]:
    return await rows(runtime, Message, order=Message.id)


def test_a_press_on_someone_elses_keyboard_or_in_a_group_opens_nothing() -> None:
    group = {
        "update_id": 9,
        "callback_query": {
            "id": "q9",
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
            "data": "bot:no",
            "message": {"message_id": 3, "date": 1, "chat": {"id": -100, "type": "group"}},
        },
    }
    assert parse_update(json.dumps(group).encode()) == []
    broken = {"update_id": 10, "callback_query": {"from": {"id": 5}}}
    with pytest.raises(UnparseablePayload):
        parse_update(json.dumps(broken).encode())
