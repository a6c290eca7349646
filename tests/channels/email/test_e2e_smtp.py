"""Getting mail in: the built-in SMTP receiver (a channel's address becomes a ticket, anyone else
gets 550, oversized mail 552, the app's lifespan starts and stops it), mail pushed over HTTP with
the channel's token, and the settings check when a channel is saved."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select

from opora.app import create_app
from opora.config import Settings
from opora.customers.models import CustomerIdentity
from opora.inbox.models import InboundPayload
from opora.runtime import Runtime, build_runtime
from opora.tickets.models import Attachment, Message, Ticket
from tests.channels.email.e2e_support import (
    CUSTOMER,
    SUPPORT,
    count,
    drain,
    email_channel,
    free_port,
    mail,
    messages,
    running_receiver,
    send,
    smtp_send,
    tickets,
)
from tests.support.factories import Desk

PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def rich_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Иван Петров <{CUSTOMER}>"
    msg["To"] = "help@shop.test"
    msg["Subject"] = "Заказ 1234: не тот размер"
    msg["Message-ID"] = "<rich-1@customer.test>"
    msg.set_content(
        "Здравствуйте! Пришёл не тот размер, фото во вложении.\n\n"
        "-- \nИван\n\n"
        "пн, 3 мар. 2025 г. в 10:00, Магазин <support@shop.test>:\n> Ваш заказ отправлен.\n"
    )
    msg.add_alternative('<p>Здравствуйте! Пришёл не тот размер.</p><img src="cid:photo1">', subtype="html")
    html = msg.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(
        PIXEL, maintype="image", subtype="png", cid="<photo1>", filename="photo.png", disposition="inline"
    )
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Чек.pdf")
    return msg.as_bytes()


async def test_mail_to_an_alias_becomes_a_ticket_with_its_parts(runtime: Runtime) -> None:
    channel = await email_channel(runtime, aliases=["help@shop.test"])
    async with running_receiver(runtime) as receiver:
        await send(receiver.port, rich_mail(), recipients=["HELP@shop.test"])
    await drain(runtime)

    [ticket] = await tickets(runtime)
    assert (ticket.channel_id, ticket.channel_type, ticket.subject) == (
        channel.id,
        "email",
        "Заказ 1234: не тот размер",
    )
    [message] = await messages(runtime)
    assert message.external_id == "rich-1@customer.test"
    assert message.text == "Здравствуйте! Пришёл не тот размер, фото во вложении."
    assert "Ваш заказ отправлен" in message.metadata_["quoted"]
    assert message.metadata_["threaded_by"] == "new"
    assert message.metadata_["no_auto_reply"] is False
    assert message.html is not None and "<script" not in message.html
    async with runtime.db.uow() as uow:
        files = {
            (a.filename, a.is_inline, a.content_id)
            for a in (await uow.session.scalars(select(Attachment))).all()
        }
        identities = (await uow.session.execute(select(CustomerIdentity.kind, CustomerIdentity.value))).all()
        [raw] = (await uow.session.scalars(select(InboundPayload.payload))).all()
    assert files == {("photo.png", True, "photo1"), ("Чек.pdf", False, None)}
    assert [tuple(i) for i in identities] == [("email", CUSTOMER)]
    # The receiver records the envelope sender the way a delivering MTA does.
    assert raw.startswith(f"Return-Path: <{CUSTOMER}>")


async def test_unknown_recipients_are_refused_at_rcpt(runtime: Runtime) -> None:
    await email_channel(runtime)
    async with running_receiver(runtime) as receiver:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await send(receiver.port, mail(to="nobody@shop.test"), recipients=["nobody@shop.test"])
        code, reason = refused.value.recipients["nobody@shop.test"]
        assert code == 550 and b"no such mailbox" in reason
        # One good recipient is enough: the mail is taken for it and the other one is refused.
        await send(receiver.port, mail(), recipients=[SUPPORT, "nobody@shop.test"])
    await drain(runtime)
    assert await count(runtime, InboundPayload) == 1
    assert await count(runtime, Ticket) == 1


async def test_deactivated_channel_no_longer_receives(runtime: Runtime) -> None:
    channel = await email_channel(runtime)
    async with runtime.db.uow() as uow:
        row = await uow.session.get(type(channel), channel.id)
        assert row is not None
        row.is_active = False
    async with running_receiver(runtime) as receiver:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await send(receiver.port, mail())
    assert await count(runtime, InboundPayload) == 0


async def test_oversized_mail_is_refused_with_552(runtime: Runtime) -> None:
    from opora.channels.email.smtp_in import SmtpReceiver

    await email_channel(runtime)
    receiver = SmtpReceiver(runtime, host="127.0.0.1", port=0, data_limit=20_000, hostname="opora.test")
    await receiver.start()
    try:
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
            await send(receiver.port, mail(body="ы" * 30_000))
        assert refused.value.smtp_code == 552
    finally:
        await receiver.stop()
    assert await count(runtime, InboundPayload) == 0


async def test_the_app_lifespan_runs_the_receiver_when_a_port_is_set(
    runtime: Runtime, settings: Settings
) -> None:
    await email_channel(runtime)
    port = free_port()
    own = build_runtime(settings.model_copy(update={"smtp_port": port}))
    app = create_app(own, run_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/healthz")).status_code == 200
        await send(port, mail(subject="Через встроенный приёмник"))
    # Stopped with the app: nothing listens there any more.
    with pytest.raises(ConnectionRefusedError):
        smtp_send(port, mail())
    await drain(runtime)
    assert [t.subject for t in await tickets(runtime)] == ["Через встроенный приёмник"]
    assert await count(runtime, Message) == 1


async def test_mail_pushed_over_http_needs_the_channel_token(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    closed = await email_channel(runtime)
    token = await email_channel(runtime, address="web@shop.test", secrets={"webhook_token": "t0ken"})
    raw = mail(to="web@shop.test", message_id="<pushed@customer.test>")
    # Without a token configured nobody may inject mail "from" a customer over HTTP.
    assert (await client.post(f"/api/v1/inbound/{closed.id}", content=raw)).status_code == 401
    wrong = await client.post(f"/api/v1/inbound/{token.id}", content=raw, headers={"X-Opora-Token": "nope"})
    assert wrong.status_code == 401
    ok = await client.post(f"/api/v1/inbound/{token.id}", content=raw, headers={"X-Opora-Token": "t0ken"})
    again = await client.post(f"/api/v1/inbound/{token.id}", content=raw, headers={"X-Opora-Token": "t0ken"})
    assert (ok.status_code, ok.json()["duplicate"], again.json()["duplicate"]) == (202, False, True)
    await drain(runtime)
    [message] = await messages(runtime)
    assert message.external_id == "pushed@customer.test"


async def test_channel_settings_are_checked_when_saved(client: httpx.AsyncClient, desk: Desk) -> None:
    async def create(settings: dict[str, object], secrets: dict[str, str] | None = None) -> httpx.Response:
        body = {"type": "email", "name": "Почта", "settings": settings, "secrets": secrets or {}}
        return await client.post("/api/v1/channels", json=body, headers=desk.admin_h)

    assert (await create({})).status_code == 422
    assert (await create({"address": "not an address"})).status_code == 422
    no_password = await create({"address": SUPPORT, "imap_host": "imap.shop.test"})
    assert no_password.status_code == 422 and "imap_password" in no_password.text
    assert (
        await create({"address": SUPPORT, "smtp_host": "smtp.shop.test", "smtp_port": 70000})
    ).status_code == 422
    good = await create(
        {"address": SUPPORT, "imap_host": "imap.shop.test", "smtp_host": "smtp.shop.test"},
        {"imap_password": "p", "smtp_password": "p"},
    )
    assert good.status_code == 201, good.text
    assert good.json()["secret_keys"] == ["imap_password", "smtp_password"]


async def test_an_overlong_message_id_is_kept_as_its_hash(runtime: Runtime) -> None:
    await email_channel(runtime)
    long_id = f"<{'x' * 600}@customer.test>"
    async with running_receiver(runtime) as receiver:
        await send(receiver.port, mail(message_id=long_id))
        await send(receiver.port, mail(message_id=long_id))
    await drain(runtime)
    [message] = await messages(runtime)
    assert message.external_id is not None and message.external_id.startswith("sha256:")
    assert await count(runtime, InboundPayload) == 1
