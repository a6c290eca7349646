"""The email channel adapter: raw RFC 5322 mail in, composed SMTP replies out.

``parse`` turns one stored mail into at most one message for the inbox pipeline and never does
I/O, so a re-parse after a crash gives the same answer. Mail that must not become a customer
message returns nothing and the pipeline marks its payload ignored (the raw mail stays stored):
our own outgoing mail coming back (a Bcc, a "Sent" copy, a forwarding rule pointing at itself)
and bounces we cannot tie to a mail of ours (mostly backscatter spam). A bounce we can tie to one
of our mails marks that outbound message failed instead of opening a ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from typing import Any

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundAttachment,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    UnparseablePayload,
    WebhookRequest,
)
from opora.channels.email.compose import build_reply, normalise_subject, ticket_number_from_subject
from opora.channels.email.config import EmailSettings, addresses_of, is_address, load, normalise_address
from opora.channels.email.mime import first_header, message_id_token
from opora.channels.email.models import Attachment, EmailParseError, ParsedEmail
from opora.channels.email.parse import SYNTHETIC_ID_DOMAIN, parse_email
from opora.channels.email.quotes import split_reply
from opora.channels.email.smtp_out import send_message
from opora.customers.models import IdentityKind

CONTENT_TYPE = "message/rfc822"
# Set on every mail we send, so that a copy coming back is recognised even when a forwarder
# rewrote its From. It holds our address, not a channel id: another Opora's mail to us carries
# that desk's address and must still get in.
OWN_HEADER = "X-Opora-Channel"
WEBHOOK_TOKEN_HEADER = "x-opora-token"
MAX_KEY = 500
# The quoted history is already in the ticket and the raw mail is stored; this much is kept on
# the message for the "show quoted text" toggle.
MAX_QUOTED_CHARS = 20_000
MAX_BOUNCE_REASON = 1000
_UNFOLD = re.compile(r"\r?\n[ \t]+")
_DSN_FIELD = re.compile(
    r"^(Action|Status|Diagnostic-Code|Final-Recipient|Original-Recipient)\s*:\s*(.+)$",
    re.IGNORECASE | re.MULTILINE,
)


class EmailAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.addresses = addresses_of(config.settings)
        # Broken settings (saved before a check existed, edited in the database) must not stop
        # inbound mail: parsing needs only the addresses; sending reports the problem instead.
        self.settings: EmailSettings | None = None
        self.settings_error: str | None = None
        try:
            self.settings = load(config.settings, config.secrets)
        except ValueError as exc:
            self.settings_error = str(exc)

    # -- inbound ---------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Mail normally arrives by SMTP or IMAP; pushing it over HTTP needs the channel's token,
        otherwise anyone could put mail "from" any customer into the inbox."""
        token = self.settings.webhook_token if self.settings else None
        given = request.header(WEBHOOK_TOKEN_HEADER) or ""
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            raise InvalidSignature("This email channel does not accept mail over HTTP with this token.")

    def payload_id(self, request: WebhookRequest) -> str:
        return mail_key(request.body)

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        try:
            mail = parse_email(payload)
        except EmailParseError as exc:
            raise UnparseablePayload(f"not an email: {exc}") from exc
        if self._is_own(mail, payload):
            return []
        if mail.is_bounce:
            return self._bounce(mail, payload)
        if not mail.from_email or not is_address(mail.from_email):
            raise UnparseablePayload("the mail has no usable sender address (From)")
        split = split_reply(mail.text, sender_name=mail.from_name or mail.from_email)
        metadata: dict[str, Any] = {
            # Mail without a reference starts a new ticket, as people expect from e-mail.
            "continues_conversation": False,
            "references": [_storable(r) for r in mail.references],
            "auto_submitted": mail.is_auto_reply,
            "bulk": mail.is_bulk,
            "no_auto_reply": not mail.may_auto_reply,
            "email": _envelope(mail),
        }
        number = ticket_number_from_subject(mail.subject)
        if number is not None:
            metadata["ticket_number"] = number
        if split.reply.strip() and split.quoted:
            metadata["quoted"] = split.quoted[:MAX_QUOTED_CHARS]
        if split.reply.strip() and split.signature:
            metadata["signature"] = split.signature[:MAX_QUOTED_CHARS]
        return [
            InboundMessage(
                external_id=_storable(mail.message_id),
                sender_kind=IdentityKind.EMAIL,
                sender_value=mail.from_email,
                sender_name=mail.from_name or None,
                # Only the new words; a mail that is nothing but a quote or a forward shows whole.
                text=split.visible,
                html=mail.html,
                attachments=tuple(_attachment(a) for a in mail.attachments),
                reply_to=_storable(mail.in_reply_to) if mail.in_reply_to else None,
                subject=normalise_subject(mail.subject),
                sent_at=mail.date,
                metadata=metadata,
            )
        ]

    def _is_own(self, mail: ParsedEmail, payload: bytes) -> bool:
        if mail.from_email and normalise_address(mail.from_email) in self.addresses:
            return True
        marker = first_header(_headers(payload), OWN_HEADER)
        return marker is not None and normalise_address(marker) in self.addresses

    def _bounce(self, mail: ParsedEmail, payload: bytes) -> list[InboundMessage]:
        if not mail.bounced_message_id:
            # Not about a mail we can name: most such "bounces" answer spam forged in our name.
            return []
        return [
            InboundMessage(
                external_id=_storable(mail.message_id),
                sender_kind=IdentityKind.EMAIL,
                sender_value=mail.from_email or "mailer-daemon",
                text=mail.text,
                subject=mail.subject,
                sent_at=mail.date,
                metadata={
                    "bounce_of": mail.bounced_message_id,
                    "bounce_reason": bounce_reason(payload, mail),
                    "auto_submitted": True,
                    "no_auto_reply": True,
                },
            )
        ]

    # -- outbound --------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = self.settings
        if settings is None:
            return DeliveryResult.failed(
                f"the channel's settings are invalid: {self.settings_error}", retriable=False
            )
        if settings.smtp is None:
            return DeliveryResult.failed("no SMTP server is configured for this channel", retriable=False)
        recipient = message.recipient_value.strip()
        if message.recipient_kind != IdentityKind.EMAIL or not is_address(recipient):
            return DeliveryResult.failed(f"{recipient!r} is not an email address", retriable=False)
        number = message.metadata.get("ticket_number", message.ticket_id)
        if not isinstance(number, int) or isinstance(number, bool):
            return DeliveryResult.failed("a reply needs the ticket number for its subject", retriable=False)
        parent = _real_id(message.reply_to)
        references = [r for r in map(_real_id, message.metadata.get("references", ())) if r and r != parent]
        mail = build_reply(
            channel_address=settings.address,
            channel_name=settings.name or self.config.name,
            to=[recipient],
            subject=message.subject or "",
            ticket_number=number,
            text=message.text,
            html=message.html,
            reply_to=settings.reply_to,
            in_reply_to=parent,
            # Without the parent last, References would not end with the mail we answer.
            references=references,
            attachments=[Attachment(a.filename, a.content_type, a.data) for a in message.attachments],
            automatic=bool(message.metadata.get("automatic")),
            # The same job retried sends the same Message-ID, so clients show one mail.
            message_id_seed=message.idempotency_key,
            reply_prefix="Re: " if parent else "",
        )
        mail[OWN_HEADER] = settings.address
        provider_id = message_id_token(str(mail["Message-ID"]))
        if provider_id is None:  # build_reply always sets one; this keeps the type honest
            return DeliveryResult.failed("the reply has no Message-ID", retriable=False)
        return await send_message(
            settings.smtp,
            mail,
            sender=settings.address,
            recipients=[recipient],
            local_hostname=settings.address.rsplit("@", 1)[-1],
            provider_id=provider_id,
        )


def mail_key(raw: bytes) -> str:
    """The inbox's idempotency key of one mail: its Message-ID (so a mail fetched again, or sent
    to both IMAP and the SMTP receiver, is stored once), or the id the parser synthesises from
    the bytes when there is none."""
    token = message_id_token(first_header(_headers(raw), "message-id"))
    if token is None:
        return f"{hashlib.sha256(bytes(raw)).hexdigest()}@{SYNTHETIC_ID_DOMAIN}"
    return _storable(token)


def _storable(message_id: str) -> str:
    # Ids are stored in 500 characters; a longer (hostile or broken) one is stored as its hash.
    if len(message_id) <= MAX_KEY:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


def bounce_reason(raw: bytes, mail: ParsedEmail) -> str:
    """What the reporting server said, from the DSN's machine-readable part when there is one."""
    fields: dict[str, str] = {}
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        for part in message.walk():
            if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
                text = _UNFOLD.sub(" ", part.as_string())
                for name, value in _DSN_FIELD.findall(text):
                    fields.setdefault(name.lower(), value.strip())
    except Exception:  # a broken report still bounced; fall back to its words below
        fields = {}
    recipient = (fields.get("final-recipient") or fields.get("original-recipient") or "").split(";")[-1]
    detail = fields.get("diagnostic-code", "").split(";", 1)[-1].strip() or fields.get("status", "")
    if detail:
        reason = f"{recipient.strip()}: {detail}" if recipient.strip() else detail
    else:
        lines = [line.strip() for line in mail.text.splitlines() if line.strip()]
        reason = " ".join(lines)[:300] or "the recipient's server returned the message"
    return f"bounced: {reason}"[:MAX_BOUNCE_REASON]


def _headers(raw: bytes) -> Message:
    try:
        return BytesHeaderParser(policy=policy.compat32).parsebytes(bytes(raw))
    except Exception:  # never expected from compat32; an empty header set is the safe answer
        return Message()


def _real_id(value: object) -> str | None:
    """A provider id worth putting in a header: ids we made up for mail without one are not."""
    if not isinstance(value, str) or not value or value.endswith("@" + SYNTHETIC_ID_DOMAIN):
        return None
    if value.startswith("sha256:"):  # an overlong id we stored as its hash
        return None
    return value


def _attachment(item: Attachment) -> InboundAttachment:
    return InboundAttachment(
        filename=item.filename,
        content_type=item.content_type,
        data=item.content,
        content_id=item.content_id,
        is_inline=item.is_inline,
    )


def _envelope(mail: ParsedEmail) -> dict[str, Any]:
    """Addresses kept on the message for reply-all and for finding out why mail came here."""
    data: dict[str, Any] = {
        "to": [a.email for a in mail.to],
        "cc": [a.email for a in mail.cc],
        "reply_to": [a.email for a in mail.reply_to],
    }
    if mail.message_id_synthesised:
        data["message_id_synthesised"] = True
    if mail.defects:
        data["defects"] = list(mail.defects[:20])
    return data
