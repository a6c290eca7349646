"""The web-form channel adapter: a stored form submission in, replies out by e-mail.

Submissions reach the inbox through ``POST /forms/{public_key}`` (spam checks, attachments), never
through the generic webhook, so ``verify`` refuses everything there.
"""

from __future__ import annotations

import base64
import binascii
import json
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
from opora.channels.email.adapter import EmailAdapter
from opora.customers.models import IdentityKind

CONTENT_TYPE = "application/vnd.opora.webform+json"


class WebformAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        # Replies go out as mail when the admin gave the form a mailbox; the same settings as
        # an email channel, so the email package composes and threads them.
        self.mail = EmailAdapter(config) if config.settings.get("address") else None

    def verify(self, request: WebhookRequest) -> None:
        raise InvalidSignature("Web forms are submitted to /forms/{public_key}, not to this address.")

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnparseablePayload(f"not a stored form submission: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("submission"), str):
            raise UnparseablePayload("not a stored form submission")
        email, phone = _field(data, "email"), _field(data, "phone")
        if not email and not phone:
            raise UnparseablePayload("the submission has neither an e-mail nor a phone number")
        kind, value = (IdentityKind.EMAIL, email) if email else (IdentityKind.PHONE, phone)
        others = [["phone", phone]] if email and phone else []
        message = _field(data, "message")
        return [
            InboundMessage(
                external_id=f"form:{data['submission']}",
                sender_kind=kind,
                sender_value=value,
                sender_name=_field(data, "name") or None,
                text=message,
                subject=_field(data, "subject")[:500] or message.split("\n", 1)[0][:120],
                attachments=tuple(_attachment(item) for item in data.get("attachments") or []),
                metadata={
                    "kind": "webform",
                    "language": data.get("language"),
                    # Each form is a new request, as people expect from a contact form.
                    "continues_conversation": False,
                    "form": {
                        "name": _field(data, "name"),
                        "email": email,
                        "phone": phone,
                        "page": _field(data, "page"),
                    },
                    "other_identities": others,
                },
            )
        ]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if self.mail is None:
            return DeliveryResult.failed(
                "this web form has no mailbox for replies (set 'address' and the SMTP settings)",
                retriable=False,
            )
        return await self.mail.send(message)


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def _attachment(item: Any) -> InboundAttachment:
    if not isinstance(item, dict) or not isinstance(item.get("data"), str):
        raise UnparseablePayload("a stored attachment is malformed")
    try:
        content = base64.b64decode(item["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnparseablePayload(f"a stored attachment is not base64: {exc}") from exc
    return InboundAttachment(
        filename=str(item.get("filename") or "attachment"),
        content_type=str(item.get("content_type") or "application/octet-stream"),
        data=content,
    )
