"""The bot in a channel, end to end through the inbox: every branch of the conversation.

Messages arrive as Telegram updates through the real inbox; the ``bot.respond`` jobs run with the
hashing test encoder (tests/bot/fakes.py) against a model trained on tests/bot/support.py's
intents. Where a branch needs a particular confidence (abstaining), ``service.classify`` is
replaced by a fixed prediction.
"""

from __future__ import annotations

import pytest

from opora.agents.models import Presence
from opora.bot import channels as bot_channels
from opora.bot import conversation, service
from opora.bot.engine import Prediction
from opora.bot.models import BotConversation
from opora.channels.models import Channel
from opora.events import service as events
from opora.events.service import Actor
from opora.inbox import service as inbox
from opora.jobs.models import Job
from opora.routing import service as routing
from opora.routing.decide import Policy
from opora.routing.schemas import TeamRoutingUpdate
from opora.runtime import Runtime
from opora.tickets import repository as tickets_repo
from opora.tickets.models import Message
from tests.bot.support import (
    add_order,
    bot_events,
    conv,
    fixed,
    make_bot_desk,
    receive,
    respond_pending,
    rows,
    say,
    ticket,
    timeline,
    update,
)
from tests.channels.email.e2e_support import email_channel, mail
from tests.channels.telegram.support import telegram_channel
from tests.support.factories import Desk

UNSURE = Prediction(intent="delivery", confidence=0.5, abstained=True, out_of_scope=False, model_version=1)


async def _desk(runtime: Runtime) -> Channel:
    channel = await telegram_channel(runtime)
    await make_bot_desk(runtime, channel)
    return channel


async def test_answered_then_yes_is_resolved_by_the_bot(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await say(runtime, channel, "how much is delivery?")
    found = await timeline(runtime)
    assert found[1] == ("bot", False, "Ivan, delivery takes 1–2 days.\n\nDid this help?")
    bot_message = (await rows(runtime, Message, Message.author_type == "bot"))[0]
    assert bot_message.metadata_["quick_replies"] == [["Yes", "bot:yes"], ["No", "bot:no"]]
    assert bot_message.delivery_status == "queued"  # the channel's outbox sends it
    assert (await conv(runtime)).step == "feedback"
    await say(runtime, channel, "yes, thanks")
    state = await conv(runtime)
    assert (state.status, state.intent) == ("resolved", "delivery")
    assert (await ticket(runtime)).status == "solved"
    assert [k for k, _ in await bot_events(runtime)] == ["bot_resolved"]
    assert (await timeline(runtime))[-1][2].startswith("Glad I could help!")


async def test_answered_then_no_hands_off_with_the_sla_promise_and_a_note(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await say(runtime, channel, "I want to return an item")
    article_reply = (await timeline(runtime))[1][2]
    assert article_reply.startswith("Returns within 14 days\nReturn any item within 14 days")
    assert "https://desk.test/help/en/articles/returns" in article_reply
    await say(runtime, channel, "no")
    state = await conv(runtime)
    assert (state.status, state.end_reason) == ("handed_off", "not_helped")
    found = await timeline(runtime)
    assert found[-2] == (
        "bot",
        False,
        "I am passing your question to a person from our support team; they will answer within 2 hours.",
    )
    author, internal, note = found[-1]
    assert (author, internal) == ("bot", True)
    assert "the answer did not help" in note and "Intent: returns" in note and "%" in note
    kind, data = (await bot_events(runtime))[0]
    assert kind == "bot_handoff" and data["reason"] == "not_helped" and data["intent"] == "returns"
    assert data["confidence"] > 0.7


async def test_abstaining_twice_asks_once_then_hands_off(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await _desk(runtime)
    monkeypatch.setattr(service, "classify", fixed(UNSURE))
    await say(runtime, channel, "hmm the thing with the stuff")
    assert (await timeline(runtime))[-1][2].startswith("Sorry, I did not quite understand.")
    assert (await conv(runtime)).status == "active"
    await say(runtime, channel, "the stuff, you know")
    state = await conv(runtime)
    assert (state.status, state.end_reason, state.rephrased) == ("handed_off", "unsure", True)


async def test_out_of_scope_hands_off_at_once(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await say(runtime, channel, "xyzzy plugh")
    state = await conv(runtime)
    assert (state.status, state.end_reason) == ("handed_off", "out_of_scope")
    assert (await timeline(runtime))[1][2].startswith("I am passing your question to a person")


async def test_routing_waits_for_the_hand_off_then_assigns(runtime: Runtime, desk: Desk) -> None:
    channel = await telegram_channel(runtime, team_id=desk.support.id)
    await make_bot_desk(runtime, channel)
    async with runtime.db.uow() as uow:
        await routing.update_team_settings(
            uow, desk.support.id, TeamRoutingUpdate(policy=Policy.LEAST_LOADED)
        )
        await routing.set_presence(uow, desk.olga.id, Presence.ONLINE, actor_id=desk.olga.id)
    await receive(runtime, channel, update("talk to a person please"))
    found = await ticket(runtime)
    assert (found.team_id, found.assignee_id) == (desk.support.id, None)  # the bot answers first
    await respond_pending(runtime)
    state = await conv(runtime)
    assert (state.status, state.end_reason, state.intent) == ("handed_off", "handoff_intent", "human")
    assert [k for k, _ in await bot_events(runtime)] == ["bot_handoff"]
    assert (await ticket(runtime)).assignee_id == desk.olga.id


async def test_order_status_answers_only_about_the_customers_own_orders(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await say(runtime, channel, "where is my order")
    assert (await timeline(runtime))[-1][2] == "Please send me your order number, for example 100245."
    customer_id = (await ticket(runtime)).customer_id
    await add_order(
        runtime,
        customer_id=customer_id,
        number="10045",
        status="shipped",
        delivery_method="Courier",
        tracking_number="TRK1",
        tracking_url="https://track.test/TRK1",
    )
    await say(runtime, channel, "10045")
    answer = (await timeline(runtime))[-1][2]
    assert answer == (
        "Order 10045: shipped.\nDelivery: Courier.\nTracking number: TRK1 — https://track.test/TRK1\n\nDid this help?"
    )


async def test_another_customers_order_is_not_revealed(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await add_order(runtime, customer_id=None, number="20077", status="shipped", tracking_number="SECRET")
    await say(runtime, channel, "where is my order 20077")
    found = await timeline(runtime)
    assert all("SECRET" not in text and "shipped" not in text for _, _, text in found)
    assert found[1][2] == "I could not find order 20077 among your orders."
    state = await conv(runtime)
    assert (state.status, state.end_reason) == ("handed_off", "order_not_found")


async def test_email_channels_get_no_bot_unless_enabled(runtime: Runtime) -> None:
    await _desk(runtime)
    channel = await email_channel(runtime)

    async def letter(sender: str) -> None:
        async with runtime.db.uow() as uow:
            got = await inbox.receive(
                uow,
                channel_id=channel.id,
                external_id=sender,
                payload=mail(sender=sender, subject="Delivery", body="how much is delivery?"),
                content_type="message/rfc822",
            )
        assert got.payload_id is not None
        async with runtime.db.uow() as uow:
            await inbox.process(uow, runtime, got.payload_id)

    async with runtime.db.uow() as uow:
        bot = await bot_channels.get(uow, channel.id)
    assert (bot.supported, bot.enabled) == (True, False)
    await letter("first@customer.test")
    assert len(await rows(runtime, Message, Message.author_type == "customer")) == 1
    assert await rows(runtime, BotConversation) == []
    assert await rows(runtime, Job, Job.task == conversation.RESPOND_TASK) == []
    async with runtime.db.uow() as uow:
        await bot_channels.put(uow, channel.id, enabled=True, languages=["en"])
    await letter("second@customer.test")
    assert [c.channel_id for c in await rows(runtime, BotConversation)] == [channel.id]


async def test_a_bot_error_hands_off_and_keeps_the_message(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await _desk(runtime)

    async def broken(*args: object, **kwargs: object) -> Prediction:
        raise RuntimeError("model file corrupt")

    monkeypatch.setattr(service, "classify", broken)
    await say(runtime, channel, "how much is delivery?")
    state = await conv(runtime)
    assert (state.status, state.end_reason) == ("handed_off", "bot_error")
    found = await timeline(runtime)
    assert found[0] == ("customer", False, "how much is delivery?")
    assert found[1][2].startswith("I am passing your question to a person")


async def test_bot_mode_holds_routing_and_auto_ack_and_a_job_run_twice_answers_once(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await receive(runtime, channel, update("how much is delivery?"))
    message = (await rows(runtime, Message))[0]
    assert (await conv(runtime)).status == "active"
    # No auto-acknowledgement while the bot talks: it promises the time itself when it hands off.
    assert [m.author_type for m in await rows(runtime, Message)] == ["customer"]
    await respond_pending(runtime)
    async with runtime.db.uow() as uow:
        again = await conversation.respond(uow, message.id, public_url="https://desk.test")
    assert again is None
    assert len(await rows(runtime, Message, Message.author_type == "bot")) == 1


async def test_telegram_buttons_go_out_as_an_inline_keyboard() -> None:
    from opora.channels.telegram.adapter import keyboard

    assert keyboard({"quick_replies": [["Да", "bot:yes"], ["Нет", "bot:no"]]}) == {
        "inline_keyboard": [
            [{"text": "Да", "callback_data": "bot:yes"}, {"text": "Нет", "callback_data": "bot:no"}]
        ]
    }
    assert keyboard({}) is None


async def test_talk_to_a_person_in_the_widget_hands_off_at_once(runtime: Runtime) -> None:
    channel = await _desk(runtime)
    await say(runtime, channel, "how much is delivery?")
    found = await ticket(runtime)
    async with runtime.db.uow() as uow:
        # What the widget's "Talk to a person" button records (channels/webchat/handoff.py).
        await tickets_repo.set_tags(uow.session, found.id, ["human_requested"])
        await events.record(
            uow,
            ticket_id=found.id,
            kind="tags_changed",
            actor=Actor("customer", found.customer_id),
            data={"tags": events.change([], ["human_requested"])},
        )
    state = await conv(runtime)
    assert (state.status, state.end_reason) == ("handed_off", "handoff_intent")
    assert (await timeline(runtime))[-2][2].startswith("I am passing your question to a person")
