"""Building outbound replies that thread correctly in every client and never loop.

Threading uses three independent signals, because each one gets lost somewhere: In-Reply-To /
References (Gmail, Thunderbird, Apple Mail), the "[#1234]" subject tag (clients that drop headers,
agents who reply from a phone), and our own Message-ID domain (so a reply to any of our mails can
be recognised).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from opora.channels.email.html import text_to_html
from opora.channels.email.models import Address, Attachment

# References grows by one id per message; clients cap it too. Keep the thread root + the tail.
MAX_REFERENCES = 20
MAX_SUBJECT = 250

_PREFIX_WORDS = r"re|fwd?|aw|wg|sv|vs|tr|rv|antw|odp|enc|rif|vl|ynt|отв|ответ|пересл|переслано|перес"
# "Re:", "RE[2]:", "Re(3):", "Fwd :", "Отв:", "Ответ:", "Пересл.:" possibly repeated.
_PREFIX = re.compile(
    rf"^\s*(?:{_PREFIX_WORDS})\.?\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
# Our tag and the ways clients mangle it: "[#1234]", "[# 1234]", "[ #1234 ]". Only in brackets,
# so "заказ #1234" or "[Order #1234]" in a customer's subject never hijacks a ticket.
_TAG = re.compile(r"\[\s*#\s*(\d{1,12})\s*\]")
_SPACES = re.compile(r"\s+")


def normalise_subject(subject: str) -> str:
    """Strip reply/forward prefixes (Re:, Fwd:, FW:, Отв:, Ответ:, Пересл: ...) and extra spaces."""
    text = _SPACES.sub(" ", subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped.strip()


def ticket_number_from_subject(subject: str | None) -> int | None:
    """The ticket number from a "[#1234]" tag (tolerating inner spaces), or None."""
    match = _TAG.search(subject or "")
    if not match:
        return None
    number = int(match.group(1))
    return number or None


def tag_subject(subject: str, ticket_number: int) -> str:
    """ "[#1234] Subject": prefixes and any earlier tag removed, so tags never stack."""
    base = normalise_subject(subject)
    base = _SPACES.sub(" ", _TAG.sub(" ", base)).strip()
    base = normalise_subject(base)  # "[#12] Re: x" leaves a prefix behind the old tag
    tagged = f"[#{ticket_number}] {base}".strip()
    return tagged[:MAX_SUBJECT]


def make_message_id(domain: str, seed: str | None = None) -> str:
    """A Message-ID in our domain; with a seed (the outbound message id) it is deterministic,
    so a retried send job produces the same id and the customer's client de-duplicates it."""
    domain = _one_line(domain).strip().lower() or "opora.invalid"
    if seed is None:
        return make_msgid(idstring="opora", domain=domain)
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    return f"<opora.{digest}@{domain}>"


def thread_references(parent_message_id: str | None, parent_references: Sequence[str] = ()) -> list[str]:
    """The parent's References plus the parent itself, de-duplicated, root + newest kept."""
    ids = [_bare_id(r) for r in parent_references]
    if parent_message_id:
        ids.append(_bare_id(parent_message_id))
    unique = list(dict.fromkeys(i for i in ids if i))
    if len(unique) > MAX_REFERENCES:
        unique = [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
    return unique


def build_reply(
    *,
    channel_address: str,
    channel_name: str,
    to: Sequence[Address | str],
    subject: str,
    ticket_number: int,
    text: str,
    html: str | None = None,
    cc: Sequence[Address | str] = (),
    reply_to: Address | str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
    automatic: bool = False,
    message_id: str | None = None,
    message_id_seed: str | None = None,
    date: datetime | None = None,
    reply_prefix: str = "Re: ",
) -> EmailMessage:
    """Compose an answer on a ticket.

    ``in_reply_to`` / ``references`` are the parent's Message-ID and References. ``automatic``
    marks acknowledgements and out-of-hours answers (RFC 3834), never an agent's reply.
    """
    domain = channel_address.rsplit("@", 1)[-1]
    msg = EmailMessage()
    msg["From"] = _header_address(Address(channel_address, channel_name))
    msg["To"] = [_header_address(a) for a in to]
    if cc:
        msg["Cc"] = [_header_address(a) for a in cc]
    if reply_to is not None:
        msg["Reply-To"] = _header_address(reply_to)
    msg["Subject"] = _one_line(reply_prefix) + tag_subject(subject, ticket_number)
    msg["Date"] = format_datetime((date or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = _angle(message_id) if message_id else make_message_id(domain, message_id_seed)
    refs = thread_references(in_reply_to, references)
    if in_reply_to:
        msg["In-Reply-To"] = _angle(in_reply_to)
    if refs:
        msg["References"] = " ".join(_angle(r) for r in refs)
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        # Exchange would otherwise answer our acknowledgement with its out-of-office reply.
        msg["X-Auto-Response-Suppress"] = "All"
    _set_body(msg, text, html, attachments)
    return msg


def _set_body(msg: EmailMessage, text: str, html: str | None, attachments: Sequence[Attachment]) -> None:
    html = html if html is not None else text_to_html(text or "")
    # 8bit bodies are refused by the odd relay without 8BITMIME; base64 is also compact for Cyrillic.
    msg.set_content(text or "", subtype="plain", charset="utf-8", cte=_cte(text or ""))
    msg.add_alternative(html, subtype="html", charset="utf-8", cte=_cte(html))
    related = [a for a in attachments if a.is_inline and a.content_id]
    html_part = msg.get_body(preferencelist=("html",))
    for item in related:
        maintype, subtype = _split_type(item.content_type)
        if isinstance(html_part, EmailMessage):
            html_part.add_related(
                item.content,
                maintype=maintype,
                subtype=subtype,
                cid=_angle(item.content_id or ""),
                filename=item.filename,
                disposition="inline",
            )
    for item in attachments:
        if item in related:
            continue
        maintype, subtype = _split_type(item.content_type)
        msg.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=item.filename)


def _cte(body: str) -> str:
    return "7bit" if body.isascii() and all(len(line) < 990 for line in body.splitlines()) else "base64"


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.lower().partition("/")
    if not maintype or not subtype or maintype == "multipart":
        return "application", "octet-stream"
    return maintype, subtype


def _header_address(value: Address | str) -> HeaderAddress:
    address = value if isinstance(value, Address) else Address(email=value)
    return HeaderAddress(display_name=_one_line(address.name), addr_spec=_one_line(address.email))


def _one_line(value: str) -> str:
    # A CR or LF in a header value would let text inject headers; nothing we send needs one.
    return _SPACES.sub(" ", value.replace("\r", " ").replace("\n", " "))


def _bare_id(value: str) -> str:
    return _one_line(value).strip().strip("<>").strip()


def _angle(value: str) -> str:
    return f"<{_bare_id(value)}>"
