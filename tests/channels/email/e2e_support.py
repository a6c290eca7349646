"""Helpers for the email end-to-end tests: mail builders, an email channel, a local SMTP sink
(optionally an auto-responder), SMTP sends from a thread, and draining the job queue."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

import opora.channels.email  # noqa: F401  (registers the channel type and its jobs)
from opora.channels import service as channels_service
from opora.channels.email.smtp_in import SmtpReceiver
from opora.channels.models import Channel
from opora.channels.schemas import ChannelCreate
from opora.inbox.models import InboundPayload
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket

SUPPORT = "support@shop.test"
CUSTOMER = "ivan@customer.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mail(
    *,
    sender: str = CUSTOMER,
    to: str = SUPPORT,
    subject: str = "Где мой заказ?",
    body: str = "Здравствуйте! Заказ 1234 не пришёл.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=policy.SMTP)


def bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


async def email_channel(runtime: Runtime, **settings: Any) -> Channel:
    """An email channel made through the service, so its settings pass ``check_config``."""
    secrets = settings.pop("secrets", {})
    data = ChannelCreate(
        type="email",
        name="Поддержка",
        settings={"address": SUPPORT, "name": "Shop support", **settings},
        secrets=secrets,
    )
    async with runtime.db.uow() as uow:
        return await channels_service.create_channel(uow, runtime, data)


def smtp_send(
    port: int, raw: bytes, *, sender: str = CUSTOMER, recipients: Sequence[str] = (SUPPORT,)
) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as client:
        client.sendmail(sender, list(recipients), raw)


async def send(port: int, raw: bytes, **kwargs: Any) -> None:
    """smtplib blocks; the receiver runs in this loop, so the client runs in a thread."""
    await asyncio.to_thread(smtp_send, port, raw, **kwargs)


async def drain(runtime: Runtime) -> int:
    worker = Worker(runtime, concurrency=2, poll_seconds=0.05)
    total = 0
    # After-commit hooks may enqueue more (a poll's follow-up): go until a pass finds nothing.
    while done := await worker.run_until_idle():
        total += done
    return total


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def messages(runtime: Runtime, *where: Any) -> list[Message]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Message).where(*where).order_by(Message.id))).all())


async def payload_states(runtime: Runtime) -> list[str]:
    async with runtime.db.uow() as uow:
        return list(
            (await uow.session.scalars(select(InboundPayload.state).order_by(InboundPayload.id))).all()
        )


@dataclass
class Captured:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = field(repr=False)


class SmtpSink:
    """The customer's mail server on loopback: captures what we send.

    ``answer`` makes it refuse at DATA with that reply ("550 ...", "451 ..."). With
    ``auto_reply_port`` it is also an auto-responder: every mail it accepts is answered, with
    ``Auto-Submitted: auto-replied``, to that port (our receiver), as a vacation reply would be.
    """

    def __init__(self) -> None:
        self.messages: list[Captured] = []
        self.answer: str | None = None
        self.auto_reply_port: int | None = None
        self.auto_replies = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: list[SMTP] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            server = SMTP(self, hostname="mx.customer.test", loop=loop)
            self._connections.append(server)
            return server

        self._server = await loop.create_server(protocol, "127.0.0.1", 0)

    async def stop(self) -> None:
        await self.settle()
        if self._server is not None:
            self._server.close()
            for connection in self._connections:
                if connection.transport is not None:
                    connection.transport.close()
            await self._server.wait_closed()
            await asyncio.sleep(0)
            self._server = None

    async def settle(self) -> None:
        """Wait for auto-replies in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answer:
            return self.answer
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Captured(envelope.mail_from or "", list(envelope.rcpt_tos), parsed, raw))
        if self.auto_reply_port is not None:
            task = asyncio.get_running_loop().create_task(self._auto_reply(parsed, self.auto_reply_port))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return "250 OK"

    async def _auto_reply(self, original: EmailMessage, port: int) -> None:
        reply = EmailMessage()
        reply["From"] = str(original["To"])
        reply["To"] = str(original["From"])
        reply["Subject"] = "Автоматический ответ: " + str(original["Subject"])
        reply["Message-ID"] = make_msgid(domain="customer.test")
        reply["In-Reply-To"] = str(original["Message-ID"])
        reply["References"] = str(original["Message-ID"])
        reply["Auto-Submitted"] = "auto-replied"
        reply.set_content("Я в отпуске до понедельника. Ваше письмо не будет переслано.")
        await aiosmtplib.send(
            reply, hostname="127.0.0.1", port=port, start_tls=False, local_hostname="mx.customer.test"
        )
        self.auto_replies += 1


@asynccontextmanager
async def running_receiver(runtime: Runtime) -> AsyncIterator[SmtpReceiver]:
    receiver = SmtpReceiver(runtime, host="127.0.0.1", port=0, hostname="opora.test")
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@asynccontextmanager
async def running_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()
