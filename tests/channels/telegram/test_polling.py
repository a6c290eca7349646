"""Long polling against the fake Bot API: updates are stored before Telegram is told, so a restart at
any point loses nothing and stores nothing twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from opora.channels.telegram.polling import TelegramPoller, store_updates
from opora.inbox.models import InboundPayload
from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.channels.telegram.fake_bot_api import TOKEN
from tests.channels.telegram.support import (
    count,
    drain,
    fake_api,
    fixture,
    messages,
    telegram_channel,
    tickets,
)


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def poller(runtime: Runtime) -> TelegramPoller:
    return TelegramPoller(runtime, refresh_seconds=0.1, retry_seconds=0.1)


async def payloads(runtime: Runtime, n: int) -> bool:
    return await count(runtime, InboundPayload) == n


async def test_polling_ingests_updates_and_survives_a_restart(runtime: Runtime) -> None:
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake, mode="polling", poll_timeout=1)
        fake.push_update(fixture("text_message"))
        fake.push_update(fixture("username_language"))
        first = poller(runtime)
        await first.start()
        await eventually(lambda: payloads(runtime, 2))
        # The next getUpdates call carries the offset that confirms both.
        await eventually(lambda: _true(fake.pending_update_ids() == []))
        await first.stop()

        # While no process polls, the customer goes on writing; Telegram keeps the updates.
        fake.push_update(fixture("voice"))
        fake.push_update(fixture("edited_message"))
        # A process that fetched them and died before storing: they were never confirmed.
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{fake.base_url}/bot{TOKEN}/getUpdates", json={"timeout": 0})
            assert [u["update_id"] for u in r.json()["result"]] == [713890004, 713890005]
        # And one that stored the edit but died before confirming it.
        await store_updates(runtime, channel.id, [fixture("edited_message")])

        second = poller(runtime)
        await second.start()
        await eventually(lambda: payloads(runtime, 4))
        await eventually(lambda: _true(fake.pending_update_ids() == []))
        await second.stop()
        await drain(runtime)
    assert await count(runtime, InboundPayload) == 4
    assert sorted(m.external_id or "" for m in await messages(runtime)) == [
        "424242001:101",
        "424242001:101:edit:1795424640",
        "424242001:104",
        "555000777:7",
    ]
    assert len(await tickets(runtime)) == 2  # Ivan's and Emma's


async def test_a_webhook_left_on_the_bot_is_removed_for_polling(runtime: Runtime) -> None:
    async with fake_api() as fake:
        await telegram_channel(runtime, fake, mode="polling", poll_timeout=1)
        fake.fail(
            "getUpdates",
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        )
        fake.push_update(fixture("text_message"))
        running = poller(runtime)
        await running.start()
        await eventually(lambda: payloads(runtime, 1))
        await running.stop()
        assert fake.calls_of("deleteWebhook")[0].params == {"drop_pending_updates": False}
    await drain(runtime)
    assert await count(runtime, Message) == 1


async def test_only_active_polling_channels_are_polled_and_stop_is_prompt(runtime: Runtime) -> None:
    async with fake_api() as fake:
        await telegram_channel(runtime, fake)  # webhook mode
        channel = await telegram_channel(runtime, fake, mode="polling", poll_timeout=30)
        running = poller(runtime)
        await running.start()
        await eventually(lambda: _true(fake.get_updates_calls == 1))
        started = time.monotonic()
        await running.stop()  # in the middle of a long poll
        assert time.monotonic() - started < 2.0
        assert {c.method for c in fake.calls} == {"getUpdates"}
        # A deactivated channel is left alone.
        async with runtime.db.uow() as uow:
            row = await uow.session.get(type(channel), channel.id)
            assert row is not None
            row.is_active = False
        calls = fake.get_updates_calls
        again = poller(runtime)
        await again.start()
        await asyncio.sleep(0.3)
        await again.stop()
        assert fake.get_updates_calls == calls


async def _true(value: bool) -> bool:
    return value
