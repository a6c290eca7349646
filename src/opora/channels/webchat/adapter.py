"""The chat widget as a channel adapter.

Visitor messages reach the inbox from the widget's own endpoints (``endpoints.py``), never from
the generic webhook, so ``verify`` refuses every webhook call. ``parse`` reads the JSON payload the
widget service stored; it is pure, as the inbox requires. ``send`` has nothing to call: the reply
is already stored, and visitors' sockets receive it from the ticket event its commit published
(see ``hub.py``); a send therefore only confirms, and the delivery job marks the reply sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
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
from opora.channels.webchat.mail import check_settings as check_mail_settings
from opora.customers.models import IdentityKind

CONTENT_TYPE = "application/vnd.opora.webchat+json"
PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Pictures and office documents; nothing a browser would run (no HTML, SVG or scripts).
DEFAULT_UPLOAD_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
NEVER_UPLOADED = ("text/html", "application/xhtml+xml", "image/svg+xml", "application/javascript")


def external_id(visitor_key: str, client_id: str) -> str:
    """The idempotency key of a visitor's message: a resend of the same client id is one message."""
    return f"{visitor_key}:{client_id}"


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    key = settings.get("public_key")
    if not isinstance(key, str) or not PUBLIC_KEY.match(key):
        raise ValueError("settings.public_key must be 8 to 64 letters, digits, '-' or '_'")
    for name in ("color", "text_color"):
        value = settings.get(name)
        if value is not None and (not isinstance(value, str) or not COLOR.match(value)):
            raise ValueError(f"settings.{name} must be a colour like #1f6feb")
    for name in ("greeting", "title"):
        value = settings.get(name)
        if value is not None and not (
            isinstance(value, dict)
            and all(k in ("ru", "en") and isinstance(v, str) for k, v in value.items())
        ):
            raise ValueError(f'settings.{name} must be {{"ru": "...", "en": "..."}}')
    limit = settings.get("upload_max_bytes")
    if limit is not None and not (isinstance(limit, int) and 0 < limit <= MAX_UPLOAD_BYTES):
        raise ValueError(f"settings.upload_max_bytes must be 1 to {MAX_UPLOAD_BYTES}")
    types = settings.get("upload_types")
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, str) and t not in NEVER_UPLOADED for t in types)
    ):
        raise ValueError("settings.upload_types must be a list of MIME types (no HTML, SVG or scripts)")
    origins = settings.get("allowed_origins")
    if origins is not None and not (isinstance(origins, list) and all(isinstance(o, str) for o in origins)):
        raise ValueError("settings.allowed_origins must be a list like ['https://shop.example']")
    check_mail_settings(settings)
    inline = settings.get("process_inline")
    if inline is not None and not isinstance(inline, bool):
        raise ValueError("settings.process_inline must be true or false")
    secret = secrets.get("identity_secret")
    if secret is not None and len(str(secret)) < 16:
        raise ValueError("secrets.identity_secret must be at least 16 characters")


class WebchatAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    def verify(self, request: WebhookRequest) -> None:
        raise InvalidSignature("The chat widget sends messages through /widget/v1, not the webhook.")

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise UnparseablePayload(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise UnparseablePayload("the payload is not an object")
        visitor, client_id = data.get("visitor"), data.get("client_id")
        if not isinstance(visitor, str) or not visitor or not isinstance(client_id, str) or not client_id:
            raise UnparseablePayload("visitor and client_id are required")
        files = []
        for item in data.get("files") or []:
            try:
                files.append(
                    InboundAttachment(
                        filename=str(item["filename"]),
                        content_type=str(item["content_type"]),
                        data=base64.b64decode(item["data"], validate=True),
                    )
                )
            except (KeyError, TypeError, binascii.Error) as exc:
                raise UnparseablePayload(f"a file is malformed: {exc}") from exc
        metadata: dict[str, Any] = {
            # Threading is by the visitor's reply reference, never "the customer's latest ticket":
            # a customer record merged with another visitor must not mix their conversations.
            "continues_conversation": False,
            "webchat": {"visitor": visitor, "client_id": client_id},
        }
        for key in ("language", "page"):
            if isinstance(data.get(key), str):
                metadata[key if key == "language" else "page_url"] = data[key][:2000]
        if data.get("offline"):
            metadata["offline"] = True
        if isinstance(data.get("email"), str):
            metadata["reply_email"] = data["email"]
        sent_at = data.get("sent_at")
        return [
            InboundMessage(
                external_id=external_id(visitor, client_id),
                sender_kind=IdentityKind.WEBCHAT,
                sender_value=visitor,
                sender_name=data.get("name") if isinstance(data.get("name"), str) else None,
                text=str(data.get("text") or ""),
                attachments=tuple(files),
                reply_to=data.get("reply_to") if isinstance(data.get("reply_to"), str) else None,
                sent_at=datetime.fromisoformat(sent_at) if isinstance(sent_at, str) else None,
                metadata=metadata,
            )
        ]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult.sent(None)
