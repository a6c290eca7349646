"""Agent replies through the outbox to the fake Bot API: text, files, rate limits, blocked bots."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update

from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message
from opora.tickets.service import DELIVER_TASK
from tests.channels.telegram.fake_bot_api import FakeBotApi
from tests.channels.telegram.support import (
    SECRET,
    SECRET_HEADER,
    drain,
    fake_api,
    fixture,
    messages,
    post_update,
    raw,
    telegram_channel,
)
from tests.support.factories import Desk

CHAT = 424242001


async def reply(runtime: Runtime, client: httpx.AsyncClient, desk: Desk, fake: FakeBotApi, text: str) -> int:
    """A customer writes, Olga answers; returns the reply's message id (its delivery still queued)."""
    channel = await telegram_channel(runtime, fake, team_id=desk.support.id)
    await post_update(client, channel, raw("text_message"))
    await drain(runtime)
    r = await client.get("/api/v1/tickets", headers=desk.olga_h)
    [ticket] = r.json()["items"]
    r = await client.post(
        f"/api/v1/tickets/{ticket['id']}/messages", json={"text": text}, headers=desk.olga_h
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def outbound(runtime: Runtime, message_id: int) -> Message:
    [message] = await messages(runtime, Message.id == message_id)
    return message


async def deliver_job(runtime: Runtime) -> Job:
    async with runtime.db.uow() as uow:
        return (await uow.session.scalars(select(Job).where(Job.task == DELIVER_TASK))).one()


async def run_retries_now(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        await uow.session.execute(update(Job).where(Job.state == "queued").values(run_at=utcnow()))


async def test_a_reply_goes_to_the_customers_chat(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        message_id = await reply(runtime, client, desk, fake, "Заказ 1234 уже в пути, трек RA123456789RU.")
        await drain(runtime)
        [call] = fake.calls_of("sendMessage")
    assert call.params == {"chat_id": CHAT, "text": "Заказ 1234 уже в пути, трек RA123456789RU."}
    sent = await outbound(runtime, message_id)
    assert sent.delivery_status == "sent"
    assert sent.external_id == f"{CHAT}:5001"


async def test_the_customers_quote_reply_threads_by_our_message_id(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        await reply(runtime, client, desk, fake, "Ответ")
        await drain(runtime)
    answer = fixture("text_message")
    answer["update_id"] += 100
    answer["message"].update(
        message_id=150, text="Спасибо!", reply_to_message={"message_id": 5001, "date": 0}
    )
    [channel_msg] = await messages(runtime, Message.direction == "in")
    r = await client.post(
        f"/api/v1/inbound/{channel_msg.channel_id}",
        json=answer,
        headers={SECRET_HEADER: SECRET},
    )
    assert r.status_code == 202
    await drain(runtime)
    [thanks] = await messages(runtime, Message.external_id == f"{CHAT}:150")
    assert thanks.ticket_id == channel_msg.ticket_id
    assert thanks.metadata_["threaded_by"] == "reference"


async def test_429_with_a_short_retry_after_is_waited_out(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        message_id = await reply(runtime, client, desk, fake, "Секунду")
        started = asyncio.get_running_loop().time()
        await drain(runtime)
        assert asyncio.get_running_loop().time() - started >= 1.0
        assert len(fake.calls_of("sendMessage")) == 2
    assert (await outbound(runtime, message_id)).delivery_status == "sent"


async def test_429_with_a_long_retry_after_and_5xx_go_back_to_the_queue(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 60", retry_after=60)
        fake.fail("sendMessage", 502, "Bad Gateway")
        message_id = await reply(runtime, client, desk, fake, "Ответ")
        await drain(runtime)
        job = await deliver_job(runtime)
        assert job.state == "queued" and "retry after 60" in (job.last_error or "")
        assert (await outbound(runtime, message_id)).delivery_status == "queued"
        await run_retries_now(runtime)
        await drain(runtime)
        assert "Bad Gateway" in ((await deliver_job(runtime)).last_error or "")
        await run_retries_now(runtime)
        await drain(runtime)
        assert len(fake.calls_of("sendMessage")) == 3
    sent = await outbound(runtime, message_id)
    assert sent.delivery_status == "sent" and sent.delivery_error is None
    assert (await deliver_job(runtime)).state == "done"


async def test_a_blocked_bot_fails_the_reply_visibly(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        message_id = await reply(runtime, client, desk, fake, "Ответ")
        await drain(runtime)
        assert len(fake.calls_of("sendMessage")) == 1  # never retried
    assert (await deliver_job(runtime)).state == "done"
    ticket_id = (await outbound(runtime, message_id)).ticket_id
    r = await client.get(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h)
    [shown] = [m for m in r.json()["items"] if m["id"] == message_id]
    assert shown["delivery_status"] == "failed"
    assert "bot was blocked by the user" in shown["delivery_error"]
    r = await client.get(f"/api/v1/tickets/{ticket_id}/events", headers=desk.olga_h)
    assert any(e["kind"] == "message_delivery" and e["data"]["status"] == "failed" for e in r.json()["items"])


async def test_a_bad_request_fails_at_once(runtime: Runtime, client: httpx.AsyncClient, desk: Desk) -> None:
    async with fake_api() as fake:
        fake.fail("sendMessage", 400, "Bad Request: chat not found")
        message_id = await reply(runtime, client, desk, fake, "Ответ")
        await drain(runtime)
    failed = await outbound(runtime, message_id)
    assert failed.delivery_status == "failed" and "chat not found" in (failed.delivery_error or "")


async def test_files_go_as_photo_and_document_with_the_text_as_caption(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        message_id = await reply(runtime, client, desk, fake, "Чек и фото упаковки")
        png = b"\x89PNG\r\n\x1a\nfake-image"
        pdf = b"%PDF-1.4 invoice"
        async with runtime.db.uow() as uow:
            for name, kind, data in (("box.png", "image/png", png), ("счёт.pdf", "application/pdf", pdf)):
                digest = runtime.storage.put(data)
                uow.session.add(
                    Attachment(
                        message_id=message_id, sha256=digest, filename=name, content_type=kind, size=len(data)
                    )
                )
        await drain(runtime)
        assert fake.calls_of("sendMessage") == []
        [photo] = fake.calls_of("sendPhoto")
        [document] = fake.calls_of("sendDocument")
    assert photo.params == {"chat_id": str(CHAT), "caption": "Чек и фото упаковки"}
    assert photo.files["photo"] == ("box.png", "image/png", png)
    assert document.params == {"chat_id": str(CHAT)}
    assert document.files["document"] == ("счёт.pdf", "application/pdf", pdf)
    sent = await outbound(runtime, message_id)
    assert sent.delivery_status == "sent" and sent.external_id == f"{CHAT}:5001"


async def test_a_long_reply_is_sent_in_pieces(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    text = "\n".join(f"Пункт {i}: проверьте упаковку и чек." for i in range(300))
    async with fake_api() as fake:
        await reply(runtime, client, desk, fake, text)
        await drain(runtime)
        calls = fake.calls_of("sendMessage")
    assert len(calls) > 1 and all(len(c.params["text"]) <= 4096 for c in calls)
    assert "\n".join(c.params["text"] for c in calls) == text


async def test_a_retry_after_a_failure_part_way_sends_only_the_parts_not_yet_delivered(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        message_id = await reply(runtime, client, desk, fake, "Фото и счёт")
        png = b"\x89PNG\r\n\x1a\nfake-image"
        pdf = b"%PDF-1.4 invoice"
        async with runtime.db.uow() as uow:
            for name, kind, data in (("box.png", "image/png", png), ("счёт.pdf", "application/pdf", pdf)):
                uow.session.add(
                    Attachment(
                        message_id=message_id,
                        sha256=runtime.storage.put(data),
                        filename=name,
                        content_type=kind,
                        size=len(data),
                    )
                )
        # The photo goes out; Telegram stumbles on the document, then answers again.
        fake.fail("sendDocument", 502, "Bad Gateway")
        await drain(runtime)
        job = await deliver_job(runtime)
        assert (job.state, job.attempts) == ("queued", 1)
        await run_retries_now(runtime)
        await drain(runtime)
        # Before: the whole reply again, and the customer saw the photo twice.
        assert len(fake.calls_of("sendPhoto")) == 1
        assert len(fake.calls_of("sendDocument")) == 2
    sent = await outbound(runtime, message_id)
    assert sent.delivery_status == "sent" and sent.external_id == f"{CHAT}:5001"
