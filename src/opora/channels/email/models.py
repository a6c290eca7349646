"""Plain immutable data that the email parser hands to the rest of the desk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opora.channels.email import loops


class EmailParseError(Exception):
    """The bytes are not an email at all (not even a header); ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)
    is_inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class ForwardedEmail:
    """A message/rfc822 part: its own headers and text, so agents can read a forwarded complaint."""

    subject: str
    from_address: Address | None
    date: datetime | None
    message_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class LoopHeaders:
    """Header values that decide whether we may answer automatically (RFC 3834 and friends)."""

    auto_submitted: str | None = None
    precedence: str | None = None
    list_id: str | None = None
    list_unsubscribe: str | None = None
    x_autoreply: str | None = None
    x_autorespond: str | None = None
    x_auto_response_suppress: str | None = None
    x_failed_recipients: str | None = None
    return_path: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    # True when the mail had no usable Message-ID and ours was derived from the raw bytes.
    message_id_synthesised: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    text: str
    html: str | None
    text_from_html: bool
    attachments: tuple[Attachment, ...]
    forwarded: tuple[ForwardedEmail, ...]
    loop_headers: LoopHeaders
    report_type: str | None = None
    is_bounce: bool = False
    bounced_message_id: str | None = None
    defects: tuple[str, ...] = ()

    @property
    def from_email(self) -> str | None:
        return self.from_address.email if self.from_address else None

    @property
    def from_name(self) -> str:
        return self.from_address.name if self.from_address else ""

    @property
    def is_auto_reply(self) -> bool:
        return loops.is_auto_reply(self.loop_headers, self.from_email, self.report_type, self.subject)

    @property
    def is_bulk(self) -> bool:
        return loops.is_bulk(self.loop_headers)

    @property
    def may_auto_reply(self) -> bool:
        """Whether an automatic answer (acknowledgement, out-of-hours) is allowed to this mail."""
        return not (self.is_bounce or self.is_auto_reply or self.is_bulk)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, nearest first, for finding its ticket."""
        ids: list[str] = []
        if self.in_reply_to:
            ids.append(self.in_reply_to)
        ids.extend(reversed(self.references))
        return tuple(dict.fromkeys(ids))
