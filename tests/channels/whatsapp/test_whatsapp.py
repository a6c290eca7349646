"""WhatsApp Cloud API end to end: Meta's documented webhook payloads through the real endpoint,
a fake Graph API on 127.0.0.1 for media and sends, delivery statuses and the 24-hour window."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from opora.channels import service as channels_service
from opora.channels.base import ChannelConfig, DeliveryState, OutboundAttachment, OutboundMessage
from opora.channels.models import Channel
from opora.channels.whatsapp import WhatsAppAdapter
from opora.channels.whatsapp.window import WINDOW_CLOSED
from opora.customers.models import Customer, CustomerIdentity, IdentityKind
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket
from tests.channels.whatsapp.support import (
    Call,
    FakeVendor,
    InboundPayload,
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
APP_SECRET = "b7f1c5e0d3a94f6e8c2a1b0d9e8f7a6c"
VERIFY_TOKEN = "opora-verify-42"
TOKEN = "EAAG-test-access-token"
PNID = "106540352242922"
OUT_ID = "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
MEDIA = {
    "1003383421387256": b"\xff\xd8jpeg-bytes",
    "1003383421387257": b"%PDF-1.4 receipt",
    "1003383421387258": b"OggS",
}


def graph(call: Call) -> tuple[int, bytes, str]:
    """Graph API as documented: a media id gives a URL; the URL gives the bytes; sends give a wamid."""
    path = call.path.split("?")[0]
    if call.headers.get("authorization") != f"Bearer {TOKEN}":
        return json_answer({"error": {"message": "Invalid OAuth access token.", "code": 190}}, 401)
    media_id = path.rsplit("/", 1)[-1]
    if call.method == "GET" and path.startswith("/v21.0/") and media_id in MEDIA:
        url = f"http://127.0.0.1:{call.headers['host'].rsplit(':', 1)[1]}/files/{media_id}"
        return json_answer(
            {
                "url": url,
                "mime_type": "application/pdf" if media_id.endswith("7") else "image/jpeg",
                "id": media_id,
                "messaging_product": "whatsapp",
            }
        )
    if call.method == "GET" and path.startswith("/files/"):
        return 200, MEDIA[media_id], "application/octet-stream"
    if path == f"/v21.0/{PNID}/media":
        return json_answer({"id": "upload-77"})
    if path == f"/v21.0/{PNID}/messages":
        return json_answer(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "79161234567", "wa_id": "79161234567"}],
                "messages": [{"id": OUT_ID}],
            }
        )
    return json_answer({"error": {"message": "Unknown path", "code": 100}}, 404)


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(graph) as fake:
        yield fake


@pytest.fixture
async def channel_id(client: httpx.AsyncClient, desk: Desk, vendor: FakeVendor) -> int:
    return await make_channel(
        client,
        desk,
        "whatsapp",
        {"phone_number_id": PNID, "api_base_url": vendor.base_url, "api_version": "v21.0"},
        {"access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


async def post(client: httpx.AsyncClient, channel_id: int, name: str) -> httpx.Response:
    body = fixture(HERE, name)
    return await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=signed(body))


async def test_verification_handshake_echoes_the_challenge_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    before = await snapshot(runtime)
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    r = await client.get(f"/api/v1/inbound/{channel_id}", params=query)
    assert (r.status_code, r.text) == (200, "1158201444")
    r = await client.get(f"/api/v1/inbound/{channel_id}", params={**query, "hub.verify_token": "guess"})
    assert r.status_code == 401
    assert await snapshot(runtime) == before


async def test_bad_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    body = fixture(HERE, "text.json")
    before = await snapshot(runtime)
    for headers in (signed(body, "another-app-secret"), {"content-type": "application/json"}):
        r = await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_signature"
    assert await snapshot(runtime) == before


async def test_text_message_becomes_a_ticket_of_the_phone_customer_once(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    r = await post(client, channel_id, "text.json")
    assert (r.status_code, r.text) == (200, "")
    assert (await post(client, channel_id, "text.json")).status_code == 200  # Meta redelivers
    # The same message in a rebuilt envelope (different bytes) is still one message.
    data = json.loads(fixture(HERE, "text.json"))
    body = json.dumps(data, ensure_ascii=True).encode()
    assert (
        await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=signed(body))
    ).status_code == 200
    await drain(runtime)
    [message] = await inbound(runtime)
    assert message.text == "Здравствуйте! Где мой заказ 1042?"
    assert message.channel_type == "whatsapp"
    [ticket] = await rows(runtime, Ticket)
    [customer] = await rows(runtime, Customer)
    assert ticket.customer_id == customer.id and customer.name == "Иван Петров"
    [identity] = await rows(runtime, CustomerIdentity)
    assert (identity.kind, identity.value) == ("phone", "+79161234567")
    assert await count(runtime, InboundPayload) == 2


async def test_media_are_downloaded_through_the_graph_api(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int, vendor: FakeVendor
) -> None:
    for name in ("image.json", "document.json", "audio.json", "reaction.json"):
        assert (await post(client, channel_id, name)).status_code == 200
    await drain(runtime)
    messages = await inbound(runtime)
    assert [m.text for m in messages] == ["Коробка пришла мятая", "Чек", ""]  # the reaction is no message
    assert len(await rows(runtime, Ticket)) == 1
    files = await rows(runtime, Attachment)
    assert sorted((f.filename, f.size) for f in files) == sorted(
        [
            ("image-1003383421387256.jpg", len(MEDIA["1003383421387256"])),
            ("receipt-1042.pdf", len(MEDIA["1003383421387257"])),
            ("audio-1003383421387258.oga", len(MEDIA["1003383421387258"])),
        ]
    )
    assert {f.message_id for f in files} == {m.id for m in messages}
    assert (
        runtime.storage.get(next(f.sha256 for f in files if f.filename == "receipt-1042.pdf"))
        == b"%PDF-1.4 receipt"
    )
    assert all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in vendor.calls)


async def test_reply_is_sent_and_statuses_move_it_forward_only(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    await reply(client, desk, ticket.id)
    await drain(runtime)
    [send] = vendor.to(f"/v21.0/{PNID}/messages")
    assert send.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79161234567",
        "type": "text",
        "text": {"body": "Здравствуйте! Заказ в пути.", "preview_url": False},
    }
    [message] = await outbound(runtime)
    assert (message.delivery_status, message.external_id) == ("sent", OUT_ID)
    # Meta does not promise order: read before delivered leaves it read.
    for name, expected in [
        ("status_read.json", "read"),
        ("status_delivered.json", "read"),
        ("status_sent.json", "read"),
    ]:
        await post(client, channel_id, name)
        await drain(runtime)
        [message] = await outbound(runtime)
        assert message.delivery_status == expected
    assert await count(runtime, Message) == 2  # statuses are no messages


async def test_failed_status_explains_the_closed_window(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int
) -> None:
    await post(client, channel_id, "text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    await reply(client, desk, ticket.id)
    await drain(runtime)
    await post(client, channel_id, "status_failed.json")
    await drain(runtime)
    [message] = await outbound(runtime)
    assert message.delivery_status == "failed"
    assert message.delivery_error == WINDOW_CLOSED


async def test_temporary_failure_is_retried_and_permanent_one_fails_visibly(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    path = f"/v21.0/{PNID}/messages"
    vendor.script(
        path, json_answer({"error": {"message": "Service temporarily unavailable", "code": 2}}, 503)
    )
    await reply(client, desk, ticket.id)
    await drain(runtime)
    [job] = await deliver_jobs(runtime)
    assert (job.state, job.attempts) == ("queued", 1)
    assert (await outbound(runtime))[0].delivery_status == "queued"
    vendor.scripted.clear()
    await make_jobs_due(runtime)
    await drain(runtime)
    assert (await outbound(runtime))[0].delivery_status == "sent"

    vendor.script(
        path,
        json_answer(
            {
                "error": {
                    "message": "(#131026) Message undeliverable",
                    "code": 131026,
                    "error_data": {"details": "Receiver is incapable of receiving this message"},
                }
            },
            400,
        ),
    )
    message_id = await reply(client, desk, ticket.id, "Ещё вопрос?")
    await drain(runtime)
    r = await client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=desk.olga_h)
    shown = next(m for m in r.json()["items"] if m["id"] == message_id)
    assert shown["delivery_status"] == "failed"
    assert "131026" in shown["delivery_error"] and "incapable" in shown["delivery_error"]


async def test_reply_outside_the_24_hour_window_is_refused_before_sending(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(Message).where(Message.direction == "in").values(created_at=utcnow() - timedelta(hours=25))
        )
    await reply(client, desk, ticket.id)
    [message] = await outbound(runtime)
    assert message.delivery_status == "failed"
    assert message.delivery_error == WINDOW_CLOSED
    assert "24" in WINDOW_CLOSED and "Окно 24 часа закрыто" in WINDOW_CLOSED
    await drain(runtime)
    assert vendor.to(f"/v21.0/{PNID}/messages") == []


async def test_window_error_from_meta_is_permanent_with_the_explanation(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, "text.json")
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    vendor.script(
        f"/v21.0/{PNID}/messages",
        json_answer({"error": {"message": "(#131047) Re-engagement message", "code": 131047}}, 400),
    )
    await reply(client, desk, ticket.id)
    await drain(runtime)
    [message] = await outbound(runtime)
    assert (message.delivery_status, message.delivery_error) == ("failed", WINDOW_CLOSED)
    [job] = await deliver_jobs(runtime)
    assert job.state == "done"


async def test_media_reply_is_uploaded_then_sent(
    runtime: Runtime, channel_id: int, vendor: FakeVendor
) -> None:
    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, channel_id)
        assert channel is not None
        adapter = channels_service.adapter_for(runtime, channel)
    assert adapter is not None
    result = await adapter.send(
        OutboundMessage(
            idempotency_key="opora-message-9",
            recipient_kind=IdentityKind.PHONE,
            recipient_value="+79161234567",
            text="",
            attachments=(OutboundAttachment("invoice.pdf", "application/pdf", b"%PDF"),),
        )
    )
    assert result.ok and result.provider_message_id == OUT_ID
    [upload] = vendor.to(f"/v21.0/{PNID}/media")
    assert b"invoice.pdf" in upload.body and b"%PDF" in upload.body
    [send] = vendor.to(f"/v21.0/{PNID}/messages")
    assert send.json()["document"] == {"id": "upload-77", "filename": "invoice.pdf"}


def test_status_fixtures_parse_to_delivery_updates() -> None:
    adapter = WhatsAppAdapter(
        ChannelConfig(
            1,
            "whatsapp",
            "WA",
            {"phone_number_id": PNID},
            {"access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
        )
    )
    states = [
        adapter.parse_updates(fixture(HERE, f"status_{name}.json"), "application/json")[0].state
        for name in ("sent", "delivered", "read", "failed")
    ]
    assert states == [DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.FAILED]
    assert adapter.parse(fixture(HERE, "status_read.json"), "application/json") == []
    # A number of the same Meta app that is not this channel's is not ours to answer.
    other = json.loads(fixture(HERE, "text.json"))
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert adapter.parse(json.dumps(other).encode(), "application/json") == []
