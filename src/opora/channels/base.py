"""The contract between the core and a channel adapter (DESIGN "Channel adapter contract").

An adapter is built per configured channel from a :class:`ChannelConfig` and offers three calls:

- ``verify(request)``: check the signature or shared secret of a webhook call; raise
  :class:`InvalidSignature` (401) to refuse it. Polling channels (IMAP) accept everything.
- ``parse(payload, content_type)``: pure; turn one stored raw payload into messages, or raise
  :class:`UnparseablePayload` so that the inbox quarantines it. No I/O, no clock, no database:
  the inbox may parse the same payload again after a crash and must get the same result.
- ``send(message)``: one call to the provider; a :class:`DeliveryResult` with the provider's
  id, or the error and whether trying again can help.

The webhook request is a plain value rather than a Starlette request, so that ``verify`` is
synchronous, testable without a server, and the body is read once by the inbox.

Optional calls, looked up on the adapter when present (ADR 0016), for providers that need more
than "store the body, answer 202":

- ``handshake(request) -> WebhookReply | None``: answers a provider's set-up call without storing
  anything (a GET verification challenge, a confirmation event); called for every GET and, after
  ``verify``, for every POST. ``None`` lets a POST through to the store.
- ``webhook_ack: WebhookReply``: the answer the provider expects once a body is stored (VK
  insists on the text ``ok``).
- ``parse_updates(payload, content_type) -> list[DeliveryUpdate]``: pure like ``parse``; the
  provider's delivery reports (delivered, read, failed) about messages we sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from opora.customers.models import IdentityKind
from opora.kit.errors import Unauthenticated


class InvalidSignature(Unauthenticated):
    code = "invalid_signature"


class UnparseablePayload(ValueError):
    """The payload is not what the provider documents; the inbox quarantines it for an admin."""


@dataclass(frozen=True)
class ChannelConfig:
    """One configured channel as an adapter sees it: plain data, no database row."""

    id: int
    type: str
    name: str
    settings: Mapping[str, Any]
    # Kept out of repr so that a logged config or a traceback never shows a token.
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    client_host: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None  # for inline images referenced from the HTML (cid:)
    is_inline: bool = False


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, as the provider described it."""

    external_id: str  # unique per channel: the inbox's idempotency key
    sender_kind: IdentityKind
    sender_value: str  # raw; the customers module normalises it
    sender_name: str | None = None
    text: str = ""
    html: str | None = None  # unsanitised; the inbox sanitises before storing
    attachments: tuple[InboundAttachment, ...] = ()
    reply_to: str | None = None  # the provider's id of the message this one answers
    subject: str | None = None
    sent_at: datetime | None = None  # the provider's timestamp, tz-aware
    metadata: Mapping[str, Any] = field(default_factory=dict)  # channel facts kept on the message


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    # The stored file's content hash: a provider that fetches files by URL (Viber) is given a
    # signed link to it instead of the bytes.
    sha256: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """One reply to send; the idempotency key lets providers that support it drop a resend."""

    idempotency_key: str
    recipient_kind: IdentityKind
    recipient_value: str
    text: str
    html: str | None = None
    subject: str | None = None
    attachments: tuple[OutboundAttachment, ...] = ()
    reply_to: str | None = None  # the provider's id of the customer message being answered
    ticket_id: int | None = None
    message_id: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def resume_point(self) -> tuple[int, str | None]:
        """Where a retry of a reply sent in several parts starts: the parts already out and the
        first part's id, as an earlier ``DeliveryResult`` left them (none: from the start)."""
        done = self.metadata.get("parts_sent")
        if not isinstance(done, int) or isinstance(done, bool) or done <= 0:
            return 0, None
        first = self.metadata.get("first_part_id")
        return done, first if isinstance(first, str) else None


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    provider_message_id: str | None = None
    retriable: bool = False
    error: str | None = None
    # A provider that says when to come back (HTTP 429 Retry-After, Telegram's retry_after).
    retry_after: float | None = None
    # A reply sent as several provider messages that failed part-way: how many of its parts
    # (counted from the first) went out, and ``provider_message_id`` is the first part's id. The
    # retry gets both back in ``OutboundMessage.metadata`` (``parts_sent``, ``first_part_id``)
    # and sends only the rest: providers without an idempotency key would show them twice.
    parts_sent: int = 0

    def __post_init__(self) -> None:
        if self.ok and (self.retriable or self.error):
            raise ValueError("a successful delivery has no error and nothing to retry")
        if not self.ok and not self.error:
            raise ValueError("a failed delivery needs an error message")

    @classmethod
    def sent(cls, provider_message_id: str | None) -> DeliveryResult:
        return cls(ok=True, provider_message_id=provider_message_id)

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        retriable: bool,
        retry_after: float | None = None,
        parts_sent: int = 0,
        first_part_id: str | None = None,
    ) -> DeliveryResult:
        return cls(
            ok=False,
            error=error,
            retriable=retriable,
            retry_after=retry_after,
            parts_sent=parts_sent,
            provider_message_id=first_part_id,
        )


@dataclass(frozen=True)
class WebhookReply:
    """What a webhook call is answered with when the provider expects something specific."""

    status_code: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


class DeliveryState(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryUpdate:
    """A provider's report about one of our outbound messages, named by its provider id."""

    provider_message_id: str
    state: DeliveryState
    error: str | None = None
    at: datetime | None = None


@runtime_checkable
class ChannelAdapter(Protocol):
    def verify(self, request: WebhookRequest) -> None: ...

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]: ...

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...


@runtime_checkable
class ReportsDelivery(Protocol):
    def parse_updates(self, payload: bytes, content_type: str) -> list[DeliveryUpdate]: ...


@runtime_checkable
class Handshakes(Protocol):
    def handshake(self, request: WebhookRequest) -> WebhookReply | None: ...


AdapterFactory = Callable[[ChannelConfig], ChannelAdapter]


class ChannelService(Protocol):
    """Something a channel keeps running in a serving process (e.g. the built-in SMTP receiver)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# Given the process's runtime, a service to run, or None when its settings leave it off.
ServiceFactory = Callable[[Any], ChannelService | None]
# Validates a channel's settings and secrets when an admin saves them; raises ValueError.
ConfigCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
