"""Bot API updates through the real webhook endpoint into tickets, files fetched from the fake API."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select, update

from opora.customers.models import Customer, CustomerIdentity
from opora.inbox.models import InboundPayload
from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message
from tests.channels.telegram.support import (
    count,
    drain,
    fake_api,
    fixture,
    messages,
    post_update,
    raw,
    telegram_channel,
    tickets,
)
from tests.support.factories import Desk
from tests.support.snapshot import snapshot


async def test_every_fixture_lands_in_one_ticket_of_one_customer(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with fake_api() as fake:
        fake.add_file("AgACAgIAAxkBAAIBZ2VpX2xhcmdl", b"\xff\xd8big-photo", "photos/file_1.jpg")
        fake.add_file("BQACAgIAAxkBAAIBaGVpX2RvY3VtZW50", b"%PDF-1.4 receipt", "documents/file_2.pdf")
        fake.add_file("AwACAgIAAxkBAAIBaWVpX3ZvaWNl", b"OggS voice", "voice/file_3.oga")
        channel = await telegram_channel(runtime, fake, team_id=desk.support.id)
        for name in ("text_message", "photo", "document", "voice", "edited_message"):
            r = await post_update(client, channel, raw(name))
            assert r.status_code == 202 and r.json() == {"accepted": True, "duplicate": False}
        await drain(runtime)
        # Only the big photo was asked for; files are fetched once.
        assert sorted(c.params["file_id"] for c in fake.calls_of("getFile")) == [
            "AgACAgIAAxkBAAIBZ2VpX2xhcmdl",
            "AwACAgIAAxkBAAIBaWVpX3ZvaWNl",
            "BQACAgIAAxkBAAIBaGVpX2RvY3VtZW50",
        ]
    [ticket] = await tickets(runtime)
    assert ticket.channel_type == "telegram" and ticket.team_id == desk.support.id
    assert ticket.subject == "Здравствуйте! Где мой заказ 1234?"
    assert ticket.language == "ru"
    customer = await _customer(runtime, ticket.customer_id)
    assert customer.name == "Иван Петров" and customer.language == "ru"
    r = await client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=desk.olga_h)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [m["external_id"] for m in items] == [
        "424242001:101",
        "424242001:102",
        "424242001:103",
        "424242001:104",
        "424242001:101:edit:1795424640",
    ]
    files = {a["filename"]: a for m in items for a in m["attachments"]}
    assert set(files) == {"photo-AQADlarge.jpg", "чек-1234.pdf", "voice-AgADvoice.ogg"}
    assert files["voice-AgADvoice.ogg"]["content_type"] == "audio/ogg"
    pdf = await client.get(f"/api/v1/attachments/{files['чек-1234.pdf']['id']}", headers=desk.olga_h)
    assert pdf.content == b"%PDF-1.4 receipt"
    [edit] = await messages(runtime, Message.external_id == "424242001:101:edit:1795424640")
    assert edit.metadata_["edited"] is True and edit.metadata_["telegram"]["edit_of"] == "424242001:101"


async def test_bad_or_missing_secret_is_401_and_stores_nothing(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    channel = await telegram_channel(runtime)
    before = await snapshot(runtime)
    for secret in (None, "", "wrong-secret", "hook-secret_12"):
        r = await post_update(client, channel, raw("text_message"), secret=secret)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_signature"
    assert await snapshot(runtime) == before


async def test_the_same_update_twice_is_one_message(runtime: Runtime, client: httpx.AsyncClient) -> None:
    channel = await telegram_channel(runtime)
    first = await post_update(client, channel, raw("text_message"))
    # Telegram redelivers when our answer is late; the body may be re-serialised differently.
    again = await post_update(client, channel, json.dumps(fixture("text_message"), indent=2).encode())
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    await drain(runtime)
    # The same message inside another update number (it happens across webhook resets) too.
    other = fixture("text_message")
    other["update_id"] = 999
    await post_update(client, channel, other)
    await drain(runtime)
    assert await count(runtime, InboundPayload) == 2
    assert await count(runtime, Message) == 1
    # A second, later edit is kept; the same edit redelivered is not.
    edit = fixture("edited_message")
    await post_update(client, channel, edit)
    edit["update_id"] += 1
    await post_update(client, channel, edit)
    edit["update_id"] += 1
    edit["edited_message"]["edit_date"] += 60
    await post_update(client, channel, edit)
    await drain(runtime)
    assert await count(runtime, Message) == 3
    assert len(await tickets(runtime)) == 1


async def test_a_known_customer_without_language_gets_telegrams(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    channel = await telegram_channel(runtime)
    r = await client.post(
        "/api/v1/customers",
        json={"name": "Emma", "identities": [{"kind": "telegram", "value": "555000777"}]},
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["language"] is None
    await post_update(client, channel, raw("username_language"))
    await drain(runtime)
    customer = await _customer(runtime, r.json()["id"])
    assert customer.language == "en"
    assert customer.name == "Emma"  # an agent's spelling stays
    [message] = await messages(runtime)
    assert message.author_customer_id == customer.id
    assert message.metadata_["telegram"]["username"] == "emma_s"


async def test_a_file_telegram_will_not_serve_is_noted_on_the_message(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake)
        await post_update(client, channel, raw("document"))  # the fake knows no such file
        await drain(runtime)
    [message] = await messages(runtime)
    assert await count(runtime, Attachment) == 0
    [error] = message.metadata_["telegram_file_errors"]
    assert "invalid file_id" in error["error"]


async def test_a_file_download_failing_for_now_is_retried(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    async with fake_api() as fake:
        fake.add_file("AwACAgIAAxkBAAIBaWVpX3ZvaWNl", b"OggS voice", "voice/file_3.oga")
        fake.fail("getFile", 502, "Bad Gateway")
        channel = await telegram_channel(runtime, fake)
        await post_update(client, channel, raw("voice"))
        await drain(runtime)
        assert await count(runtime, Attachment) == 0
        await _run_retries_now(runtime)
        await drain(runtime)
    [attachment] = await _attachments(runtime)
    assert attachment.filename == "voice-AgADvoice.ogg" and attachment.size == len(b"OggS voice")


async def _customer(runtime: Runtime, customer_id: int) -> Customer:
    async with runtime.db.uow() as uow:
        customer = await uow.session.get(Customer, customer_id)
        assert customer is not None
        identities = (
            await uow.session.scalars(
                select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
            )
        ).all()
        assert [(i.kind, i.value) for i in identities][:1] in (
            [("telegram", "424242001")],
            [("telegram", "555000777")],
        )
        return customer


async def _attachments(runtime: Runtime) -> list[Attachment]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Attachment))).all())


async def _run_retries_now(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        await uow.session.execute(update(Job).where(Job.state == "queued").values(run_at=utcnow()))
