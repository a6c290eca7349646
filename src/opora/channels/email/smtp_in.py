"""The built-in SMTP receiver (aiosmtpd), so a shop can point mail forwarding straight at Opora.

It runs inside the serving process's event loop. RCPT TO picks the email channel (its address or
one of its aliases) and refuses anyone else with 550, so the receiver is never an open relay. The
mail is stored through the inbox in its own transaction, and 250 is answered only after that
commit: a sender that got 250 can forget the mail, and one that did not will send it again, which
the inbox's Message-ID key turns into a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Iterable

from aiosmtpd.smtp import SMTP, Envelope, Session

from opora.channels import repository as channels_repo
from opora.channels.email.adapter import CONTENT_TYPE, mail_key
from opora.channels.email.config import addresses_of, normalise_address
from opora.db import UnitOfWork
from opora.inbox.service import receive
from opora.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL_TYPE = "email"
DATA_LIMIT = 25 * 1024 * 1024
IDLE_TIMEOUT = 120.0
MAX_CHANNELS = 10_000


class _Smtp(SMTP):
    # RFC 5321 allows 1,000 octets per line, but generated HTML mail often has longer lines and
    # real MTAs take them; refusing would bounce a customer's mail over a formatting detail.
    line_length_limit = 64 * 1024


class _Handler:
    """aiosmtpd calls ``handle_<COMMAND>`` on this object."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            async with self.runtime.db.uow() as uow:
                known = await channels_for(uow, [address])
        except Exception:
            log.exception("SMTP receiver could not look up the recipient")
            return "451 4.3.0 Temporary lookup failure, try again later"
        if not known:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = with_return_path(envelope.original_content or b"", envelope.mail_from)
        key = mail_key(raw)
        try:
            async with self.runtime.db.uow() as uow:
                channel_ids = await channels_for(uow, envelope.rcpt_tos)
                for channel_id in channel_ids:
                    await receive(
                        uow, channel_id=channel_id, external_id=key, payload=raw, content_type=CONTENT_TYPE
                    )
        except Exception:
            log.exception("SMTP receiver could not store a mail", extra={"message_key": key})
            return "451 4.3.0 Could not store the message, try again later"
        if not channel_ids:  # every channel was switched off between RCPT and DATA
            return "550 5.1.1 No such mailbox here"
        # Only now: the mail and its processing job are committed.
        return "250 2.0.0 OK: queued"


async def channels_for(uow: UnitOfWork, recipients: Iterable[str]) -> list[int]:
    """Ids of the active email channels these addresses belong to, each once, in id order."""
    wanted = {normalise_address(r) for r in recipients}
    found: list[int] = []
    for channel in await channels_repo.list_channels(
        uow.session, limit=MAX_CHANNELS, type_name=CHANNEL_TYPE, active=True
    ):
        if wanted.intersection(addresses_of(channel.settings or {})):
            found.append(channel.id)
    return found


def with_return_path(content: bytes, mail_from: str | None) -> bytes:
    """Prepend the envelope sender as Return-Path, as a delivering MTA does (RFC 5321 4.4).

    Loop protection reads it: a null sender ("<>") marks a bounce or an automatic notice.
    """
    sender = (mail_from or "").strip().strip("<>").strip()
    if any(ch in sender for ch in "\r\n<>"):
        sender = ""
    return f"Return-Path: <{sender}>\r\n".encode("utf-8", "surrogateescape") + content


class SmtpReceiver:
    """Start and stop the receiver; ``port`` is the bound one (useful when asked for port 0)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        host: str,
        port: int,
        data_limit: int = DATA_LIMIT,
        hostname: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.requested_port = port
        self.data_limit = data_limit
        # socket.getfqdn() (aiosmtpd's default) can hang for seconds on a host without DNS.
        self.hostname = hostname or socket.gethostname()
        self._handler = _Handler(runtime)
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[_Smtp] = weakref.WeakSet()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the SMTP receiver is not running")
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> _Smtp:
        server = _Smtp(
            self._handler,
            data_size_limit=self.data_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="Opora ESMTP",
            timeout=IDLE_TIMEOUT,
            loop=asyncio.get_running_loop(),
        )
        self._connections.add(server)
        return server

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        # Several `opora serve` processes on one host share the port; the kernel spreads connections.
        self._server = await loop.create_server(
            self._protocol, self.host, self.requested_port, reuse_port=hasattr(socket, "SO_REUSEPORT")
        )
        log.info("SMTP receiver listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # A mail in the middle of DATA is cut off before its commit: the sender never got 250 and
        # will send it again.
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await server.wait_closed()
        # Let the closed connections' handler tasks see their cancellation before the loop moves on.
        await asyncio.sleep(0)
        log.info("SMTP receiver stopped")


def receiver_from_settings(runtime: Runtime) -> SmtpReceiver | None:
    """The embedded receiver when OPORA_SMTP_PORT is set; None otherwise."""
    settings = runtime.settings
    if settings.smtp_port is None:
        return None
    return SmtpReceiver(
        runtime, host=settings.smtp_host, port=settings.smtp_port, data_limit=settings.smtp_max_bytes
    )
