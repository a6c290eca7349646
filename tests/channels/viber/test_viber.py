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
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket
from opora.tickets.service import Upload, attach_uploads
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


# -- files -----------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 300
PDF = b"%PDF-1.4\n" + b"0" * 700
MEDIA = "https://dl-media.viber.com"


def media_server(call: Call) -> tuple[int, bytes, str]:
    """Viber's send API plus its media host: the picture, an expired file, an oversized video."""
    if call.method == "GET" and call.path.endswith("/photo.jpg"):
        return 200, PNG, "image/png"
    if call.method == "GET" and call.path.endswith("/receipt.pdf"):
        return 404, b"expired", "text/plain"
    if call.method == "GET" and call.path.endswith("/unboxing.mp4"):
        return 200, b"\x00" * 70_000, "video/mp4"
    return viber_api(call)


async def files_channel(client: httpx.AsyncClient, desk: Desk, vendor: FakeVendor, **settings: object) -> int:
    return await make_channel(
        client,
        desk,
        "viber",
        {
            "sender_name": "Магазин",
            "api_base_url": f"{vendor.base_url}/pa",
            "media_max_bytes": 60_000,
            "media_allow": ["127.0.0.1"],
            **settings,
        },
        {"auth_token": TOKEN},
    )


async def post_local(
    client: httpx.AsyncClient, channel_id: int, name: str, vendor: FakeVendor, *, size: int | None = None
) -> httpx.Response:
    """The documented payload, its media URLs pointed at the fake media host (and, for a file,
    another declared size)."""
    body = fixture(HERE, name).replace(MEDIA.encode(), vendor.base_url.encode())
    if size is not None:
        body = body.replace(b'"size": 10240', f'"size": {size}'.encode())
    return await client.post(f"/api/v1/inbound/{channel_id}", content=body, headers=signed(body))


async def test_pictures_are_downloaded_as_attachments_within_the_size_limit(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await files_channel(client, desk, vendor)
        for name in (
            "message_picture.json",
            "message_file.json",
            "message_video.json",
            "message_picture.json",
        ):
            size = 100 * 1024 * 1024 if name == "message_file.json" else None
            assert (await post_local(client, channel_id, name, vendor, size=size)).status_code == 200
        await drain(runtime)
        picture, document, video = await inbound(runtime)
        files = await rows(runtime, Attachment)
        assert [(f.message_id, f.filename, f.content_type, f.size) for f in files] == [
            (picture.id, "photo.jpg", "image/png", len(PNG))
        ]
        async with runtime.db.uow() as uow:
            assert runtime.storage.get(files[0].sha256) == PNG
            skipped = {
                m.id: (await uow.session.get(Message, m.id)).metadata_["viber_media_skipped"]  # type: ignore[union-attr]
                for m in (picture, document, video)
            }
        assert skipped[picture.id] == []
        # The file's declared size is over the limit: not even fetched, and kept as a link.
        assert [s["reason"] for s in skipped[document.id]] == ["larger than 60000 bytes"]
        assert not [c for c in vendor.calls if c.path.endswith("/receipt.pdf")]
        # The video declared a small size but the body is larger: the download stops at the limit.
        assert [s["reason"] for s in skipped[video.id]] == ["larger than 60000 bytes"]
        assert "unboxing.mp4" in video.text
        # The repeated picture message was stored once and downloaded once.
        assert len([c for c in vendor.calls if c.path.endswith("/photo.jpg")]) == 1


async def test_an_expired_media_link_stays_a_link_and_a_media_outage_is_retried(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await files_channel(client, desk, vendor, media_max_bytes=100_000)
        vendor.script("/5/media/2/short/any/sig/image/0x0/4a1b/photo.jpg", (503, b"busy", "text/plain"))
        await post_local(client, channel_id, "message_picture.json", vendor)
        await post_local(client, channel_id, "message_file.json", vendor)
        await drain(runtime)
        picture, document = await inbound(runtime)
        jobs = await rows(runtime, Job, Job.task == "viber.fetch_media", Job.state == "queued")
        assert [j.attempts for j in jobs] == [1]  # the picture waits for another try
        assert await count(runtime, Attachment) == 0
        vendor.scripted.clear()
        await make_jobs_due(runtime)
        await drain(runtime)
        [stored] = await rows(runtime, Attachment)
        assert stored.message_id == picture.id
        async with runtime.db.uow() as uow:
            expired = await uow.session.get(Message, document.id)
            assert expired is not None
            [reason] = expired.metadata_["viber_media_skipped"]
            assert "HTTP 404" in reason["reason"]


async def test_media_on_a_private_address_is_refused_without_the_allow_list(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await make_channel(
            client,
            desk,
            "viber",
            {"sender_name": "Магазин", "api_base_url": f"{vendor.base_url}/pa"},
            {"auth_token": TOKEN},
        )
        await post_local(client, channel_id, "message_picture.json", vendor)
        await drain(runtime)
        [message] = await inbound(runtime)
        assert await count(runtime, Attachment) == 0
        assert not [c for c in vendor.calls if c.method == "GET"]
        async with runtime.db.uow() as uow:
            row = await uow.session.get(Message, message.id)
            assert row is not None and row.metadata_["viber_media_skipped"][0]["reason"].startswith("refused")


async def attach(runtime: Runtime, message_id: int, *uploads: Upload) -> None:
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, message_id)
        assert message is not None
        await attach_uploads(uow, runtime.storage, message, list(uploads))


async def test_replies_send_pictures_and_files_by_signed_links_viber_can_fetch(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await files_channel(client, desk, vendor, files_base_url="http://testserver")
        await post_local(client, channel_id, "message_text.json", vendor)
        await drain(runtime)
        [ticket] = await rows(runtime, Ticket)
        message_id = await reply(client, desk, ticket.id, "Вот фото и чек")
        await attach(
            runtime,
            message_id,
            Upload("photo.png", "image/png", PNG),
            Upload("чек 1042.pdf", "application/pdf", PDF),
        )
        await drain(runtime)
        sends = [c.json() for c in vendor.to("/pa/send_message")]
        assert [(s["type"], s.get("text"), s.get("file_name"), s.get("size")) for s in sends] == [
            ("picture", "Вот фото и чек", None, None),
            ("file", None, "чек 1042.pdf", len(PDF)),
        ]
        assert {s["tracking_data"] for s in sends} == {f"opora-message-{message_id}"}
        [sent] = await outbound(runtime)
        assert (sent.delivery_status, sent.external_id) == ("sent", str(OUT_TOKEN))
        # Viber fetches each link from the desk; a link with another signature opens nothing.
        picture_url, file_url = (s["media"] for s in sends)
        fetched = await client.get(picture_url.removeprefix("http://testserver"))
        assert (fetched.status_code, fetched.content, fetched.headers["content-type"]) == (
            200,
            PNG,
            "image/png",
        )
        document = await client.get(file_url.removeprefix("http://testserver"))
        assert document.status_code == 200 and document.content == PDF
        assert "attachment" in document.headers["content-disposition"]
        parts = picture_url.removeprefix("http://testserver").split("/")
        parts[-2] = "0" * len(parts[-2])
        assert (await client.get("/".join(parts))).status_code == 404


async def test_a_reply_with_files_fails_readably_without_a_public_address_and_a_long_text_goes_first(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await files_channel(client, desk, vendor)
        await post_local(client, channel_id, "message_text.json", vendor)
        await drain(runtime)
        [ticket] = await rows(runtime, Ticket)
        refused = await reply(client, desk, ticket.id, "Фото")
        await attach(runtime, refused, Upload("photo.png", "image/png", PNG))
        await drain(runtime)
        [failed] = await outbound(runtime)
        assert failed.delivery_status == "failed"
        assert failed.delivery_error is not None and "files_base_url" in failed.delivery_error
        assert vendor.to("/pa/send_message") == []

        r = await client.patch(
            f"/api/v1/channels/{channel_id}",
            json={"settings": {"files_base_url": "https://desk.example"}},
            headers=desk.admin_h,
        )
        assert r.status_code == 200, r.text
        long_text = "Подробный ответ. " * 10
        message_id = await reply(client, desk, ticket.id, long_text)
        await attach(runtime, message_id, Upload("big.png", "image/png", PNG + b"\x00" * (1024 * 1024)))
        await drain(runtime)
        sends = [c.json() for c in vendor.to("/pa/send_message")]
        # Too long for a caption: the text first; a picture over Viber's 1 MB goes as a file.
        assert [(s["type"], s.get("text")) for s in sends] == [("text", long_text.strip()), ("file", None)]
        assert sends[1]["media"].startswith(f"https://desk.example/viber/v1/files/{channel_id}/")


async def test_a_retry_after_a_failure_part_way_sends_only_the_parts_not_yet_delivered(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    with FakeVendor(media_server) as vendor:
        channel_id = await files_channel(client, desk, vendor, files_base_url="http://testserver")
        await post_local(client, channel_id, "message_text.json", vendor)
        await drain(runtime)
        [ticket] = await rows(runtime, Ticket)
        ok = json_answer({"status": 0, "status_message": "ok", "message_token": OUT_TOKEN})
        # The picture goes out, Viber stumbles on the file, then answers again.
        vendor.script("/pa/send_message", ok, (503, b"busy", "text/plain"), ok)
        message_id = await reply(client, desk, ticket.id, "Фото и чек")
        await attach(
            runtime,
            message_id,
            Upload("photo.png", "image/png", PNG),
            Upload("чек.pdf", "application/pdf", PDF),
        )
        await drain(runtime)
        [job] = await deliver_jobs(runtime)
        assert (job.state, job.attempts) == ("queued", 1)
        await make_jobs_due(runtime)
        await drain(runtime)
        sends = [c.json()["type"] for c in vendor.to("/pa/send_message")]
        # Before: picture, file (failed), picture again, file: the customer saw the photo twice.
        assert sends == ["picture", "file", "file"]
        [sent] = await outbound(runtime)
        assert (sent.delivery_status, sent.external_id) == ("sent", str(OUT_TOKEN))
