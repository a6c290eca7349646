"""Viber bot API end to end: signed callbacks through the real endpoint, and a fake Viber API on
127.0.0.1 receiving send_message."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opora.customers.models import Customer, CustomerIdentity
from opora.inbox.models import InboundPayload
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.channels.whatsapp.support import (
    Call,
    FakeVendor,
    count,
    deliver_jobs,
    drain,
    fixture,
    inbound,
    json_answer,
    make_channel,
    make_jobs_due,
    outbound,
    reply,
    rows,
)
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

HERE = Path(__file__).parent
TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
OUT_TOKEN = 5741311803571721087


def viber_api(call: Call) -> tuple[int, bytes, str]:
    if call.headers.get("x-viber-auth-token") != TOKEN:
        return json_answer({"status": 2, "status_message": "invalidAuthToken"})
    if call.path == "/pa/send_message":
        return json_answer(
            {"status": 0, "status_message": "ok", "message_token": OUT_TOKEN, "chat_hostname": "SN-CHAT-15_"}
        )
    return json_answer({"status": 1, "status_message": "invalidUrl"})


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(viber_api) as fake:
        yield fake


@pytest.fixture
async def channel_id(client: httpx.AsyncClient, desk: Desk, vendor: FakeVendor) -> int:
    return await make_channel(
        client,
        desk,
        "viber",
        {"sender_name": "Магазин", "api_base_url": f"{vendor.base_url}/pa"},
        {"auth_token": TOKEN},
    )


def signed(body: bytes, token: str = TOKEN) -> dict[str, str]:
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {"x-viber-content-signature": digest, "content-type": "application/json"}


async def post(client: httpx.AsyncClient, channel_id: int, name: str) -> httpx.Response:
    body = fixture(HERE, name)
    return await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=signed(body))


async def test_bad_signature_is_refused_and_the_webhook_check_is_not_stored(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    before = await snapshot(runtime)
    body = fixture(HERE, "message_text.json")
    for headers in (signed(body, "not-the-token"), {"content-type": "application/json"}):
        r = await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=headers)
        assert r.status_code == 401
    assert (await post(client, channel_id, "webhook.json")).status_code == 200
    assert await snapshot(runtime) == before


async def test_messages_become_one_ticket_and_duplicates_one_message(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    for name in (
        "conversation_started.json",
        "subscribed.json",
        "message_text.json",
        "message_text.json",
        "message_picture.json",
        "message_file.json",
    ):
        assert (await post(client, channel_id, name)).status_code == 200
    await drain(runtime)
    messages = await inbound(runtime)
    assert [m.text for m in messages] == [
        "Здравствуйте, заказ 1042 опаздывает",
        "Вот упаковка\n[picture] photo.jpg https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/4a1b/photo.jpg",
        "[file] receipt.pdf https://dl-media.viber.com/5/media/2/short/any/sig/file/receipt.pdf",
    ]
    [ticket] = await rows(runtime, Ticket)
    assert ticket.language == "ru"
    [customer] = await rows(runtime, Customer)
    assert customer.name == "Мария Соколова"
    [identity] = await rows(runtime, CustomerIdentity)
    assert (identity.kind, identity.value) == ("viber", "01234567890A=")
    assert await count(runtime, InboundPayload) == 5  # the repeated message was stored once


async def test_reply_is_sent_and_delivered_then_seen(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "message_text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    message_id = await reply(client, desk, ticket.id)
    await drain(runtime)
    [send] = vendor.to("/pa/send_message")
    assert send.json() == {
        "receiver": "01234567890A=",
        "min_api_version": 1,
        "sender": {"name": "Магазин"},
        "tracking_data": f"opora-message-{message_id}",
        "type": "text",
        "text": "Здравствуйте! Заказ в пути.",
    }
    for name, expected in [("delivered.json", "delivered"), ("seen.json", "read"), ("failed.json", "read")]:
        await post(client, channel_id, name)
        await drain(runtime)
        [message] = await outbound(runtime)
        assert (message.delivery_status, message.external_id) == (expected, str(OUT_TOKEN))


async def test_failed_report_fails_a_sent_message(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int
) -> None:
    await post(client, channel_id, "message_text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    await reply(client, desk, ticket.id)
    await drain(runtime)
    await post(client, channel_id, "failed.json")
    await drain(runtime)
    [message] = await outbound(runtime)
    assert message.delivery_status == "failed"
    assert message.delivery_error == "Viber could not deliver the message: failure description"


async def test_rate_limit_is_retried_and_unsubscribed_customer_fails(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "message_text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    vendor.script("/pa/send_message", json_answer({"status": 12, "status_message": "tooManyRequests"}))
    await reply(client, desk, ticket.id)
    await drain(runtime)
    [job] = await deliver_jobs(runtime)
    assert (job.state, job.attempts) == ("queued", 1)
    assert "tooManyRequests" in (job.last_error or "")
    vendor.scripted.clear()
    await make_jobs_due(runtime)
    await drain(runtime)
    assert [m.delivery_status for m in await outbound(runtime)] == ["sent"]

    vendor.script("/pa/send_message", json_answer({"status": 6, "status_message": "receiverNotSubscribed"}))
    await reply(client, desk, ticket.id, "Ещё?")
    await drain(runtime)
    failed = (await outbound(runtime))[1]
    assert failed.delivery_status == "failed"
    assert failed.delivery_error is not None and "не подписан" in failed.delivery_error
