"""The WhatsApp Cloud API adapter: Meta's webhook in, Graph API messages out.

``parse`` is pure: media arrive as ids only, so each message keeps its media references in its
metadata (``whatsapp_media``) and the ``whatsapp.fetch_media`` job downloads them after the
message is stored (tasks.py). Delivery reports (``statuses``) come out of ``parse_updates``.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    DeliveryState,
    DeliveryUpdate,
    InboundMessage,
    InvalidSignature,
    OutboundAttachment,
    OutboundMessage,
    UnparseablePayload,
    WebhookReply,
    WebhookRequest,
)
from opora.channels.whatsapp import api
from opora.channels.whatsapp.config import WhatsAppSettings, load
from opora.customers.models import IdentityKind
from opora.kit.crypto import hmac_hex_matches

SIGNATURE_HEADER = "x-hub-signature-256"
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
MAX_TEXT = 4096  # the Cloud API's limit for one text message
_STATES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
}
# What the Cloud API accepts as an image, an audio or a video; anything else goes as a document.
_IMAGE = {"image/jpeg", "image/png"}
_AUDIO = {"audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg"}
_VIDEO = {"video/mp4", "video/3gpp"}


class WhatsAppAdapter:
    webhook_ack = WebhookReply(200, b"")

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.settings: WhatsAppSettings | None = None
        self.settings_error: str | None = None
        try:
            self.settings = load(config.settings, config.secrets)
        except ValueError as exc:
            self.settings_error = str(exc)

    # -- webhook -----------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Meta signs the raw body with the app secret; without a valid signature nothing is stored."""
        if self.settings is None:
            raise InvalidSignature("This WhatsApp channel is not configured; its webhook is closed.")
        given = request.header(SIGNATURE_HEADER) or ""
        prefix = "sha256="
        if not (
            given.startswith(prefix)
            and hmac_hex_matches(given[len(prefix) :], self.settings.app_secret, request.body)
        ):
            raise InvalidSignature("The X-Hub-Signature-256 header does not match the body.")

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """The GET Meta sends when the webhook URL is saved: echo the challenge if the token fits."""
        if request.method != "GET":
            return None
        token = request.query.get("hub.verify_token", "")
        if (
            self.settings is None
            or request.query.get("hub.mode") != "subscribe"
            or not hmac.compare_digest(token.encode(), self.settings.verify_token.encode())
        ):
            raise InvalidSignature("The verify token does not match this channel.")
        return WebhookReply(200, request.query.get("hub.challenge", "").encode())

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        messages = []
        for value in self._values(payload):
            names = {
                str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for item in value.get("messages") or []:
                message = _message(item, names)
                if message is not None:
                    messages.append(message)
        return messages

    def parse_updates(self, payload: bytes, content_type: str) -> list[DeliveryUpdate]:
        updates = []
        for value in self._values(payload):
            for status in value.get("statuses") or []:
                if (
                    not isinstance(status, dict)
                    or status.get("status") not in _STATES
                    or not status.get("id")
                ):
                    continue
                state = _STATES[status["status"]]
                updates.append(
                    DeliveryUpdate(
                        provider_message_id=str(status["id"]),
                        state=state,
                        error=api.status_error(status.get("errors"))
                        if state == DeliveryState.FAILED
                        else None,
                        at=_time(status.get("timestamp")),
                    )
                )
        return updates

    def _values(self, payload: bytes) -> Iterator[Mapping[str, Any]]:
        """The ``value`` objects of message changes meant for this channel's phone number."""
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise UnparseablePayload(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("object") != "whatsapp_business_account":
            raise UnparseablePayload("not a WhatsApp Business Account notification")
        own = self.settings.phone_number_id if self.settings else None
        for entry in data.get("entry") or []:
            for change in (entry or {}).get("changes") or []:
                value = change.get("value") if isinstance(change, dict) else None
                if change.get("field") != "messages" or not isinstance(value, dict):
                    continue
                # One Meta app has one webhook for all its numbers; this channel is one number.
                if own and str((value.get("metadata") or {}).get("phone_number_id")) != own:
                    continue
                yield value

    # -- sending -------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = self.settings
        if settings is None:
            return DeliveryResult.failed(
                f"the channel's settings are invalid: {self.settings_error}", retriable=False
            )
        to = message.recipient_value.strip().lstrip("+")
        if message.recipient_kind not in (IdentityKind.PHONE, IdentityKind.WHATSAPP) or not to.isdigit():
            return DeliveryResult.failed(
                f"{message.recipient_value!r} is not a WhatsApp number", retriable=False
            )
        text = message.text if message.text.strip() else ""
        chunks = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
        if not chunks and not message.attachments:
            return DeliveryResult.failed("the reply is empty", retriable=False)
        ids: list[str] = []
        url = settings.url(settings.phone_number_id, "messages")
        try:
            async with api.client() as http:
                for chunk in chunks:
                    body = {"type": "text", "text": {"body": chunk, "preview_url": False}}
                    ids.append(_sent_id(await api.post_json(http, settings, url, _envelope(to, body))))
                for attachment in message.attachments:
                    media_id = await api.upload_media(
                        http,
                        settings,
                        filename=attachment.filename,
                        content_type=attachment.content_type,
                        data=attachment.data,
                    )
                    ids.append(
                        _sent_id(
                            await api.post_json(
                                http, settings, url, _envelope(to, _media(attachment, media_id))
                            )
                        )
                    )
        except api.ApiError as exc:
            return exc.result()
        return DeliveryResult.sent(ids[0])


def _envelope(to: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **body}


def _media(attachment: OutboundAttachment, media_id: str) -> dict[str, Any]:
    kind = attachment.content_type.split(";")[0].strip().lower()
    if kind in _IMAGE:
        return {"type": "image", "image": {"id": media_id}}
    if kind in _AUDIO:
        return {"type": "audio", "audio": {"id": media_id}}
    if kind in _VIDEO:
        return {"type": "video", "video": {"id": media_id}}
    return {"type": "document", "document": {"id": media_id, "filename": attachment.filename}}


def _sent_id(answer: Any) -> str:
    sent = answer.get("messages") if isinstance(answer, dict) else None
    if not isinstance(sent, list) or not sent or not isinstance(sent[0], dict) or not sent[0].get("id"):
        raise api.ApiError("WhatsApp accepted the message but returned no id", retriable=False)
    return str(sent[0]["id"])


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _message(item: Any, names: Mapping[str, Any]) -> InboundMessage | None:
    if not isinstance(item, dict) or not item.get("id") or not item.get("from"):
        raise UnparseablePayload("a message without id or sender")
    kind = str(item.get("type") or "unknown")
    if kind == "reaction":
        return None  # an emoji on an earlier message is not a new request
    sender = str(item["from"])
    text, media = _content(item, kind)
    metadata: dict[str, Any] = {"whatsapp": {"type": kind, "wa_id": sender}}
    if media:
        metadata["whatsapp_media"] = media
    name = names.get(sender)
    return InboundMessage(
        external_id=str(item["id"]),
        sender_kind=IdentityKind.PHONE,
        sender_value="+" + sender,
        sender_name=str(name) if name else None,
        text=text,
        reply_to=(item.get("context") or {}).get("id"),
        sent_at=_time(item.get("timestamp")),
        metadata=metadata,
    )


def _content(item: Mapping[str, Any], kind: str) -> tuple[str, list[dict[str, Any]]]:
    """The message's words and its media references (downloaded later by a job)."""
    raw = item.get(kind)
    body: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), []
    if kind in MEDIA_TYPES:
        if not body.get("id"):
            raise UnparseablePayload(f"a {kind} message without a media id")
        mime = str(body.get("mime_type") or "application/octet-stream").split(";")[0].strip()
        filename = body.get("filename") or f"{kind}-{body['id']}{mimetypes.guess_extension(mime) or ''}"
        ref: dict[str, Any] = {
            "id": str(body["id"]),
            "mime_type": mime,
            "filename": str(filename),
            "kind": kind,
        }
        if body.get("voice"):
            ref["voice"] = True
        return str(body.get("caption") or ""), [ref]
    if kind == "location":
        place = " ".join(str(body.get(k)) for k in ("name", "address") if body.get(k))
        return f"📍 {body.get('latitude')}, {body.get('longitude')} {place}".strip(), []
    if kind == "contacts":
        cards = [
            " ".join(
                [str((c.get("name") or {}).get("formatted_name") or "")]
                + [str(p.get("phone")) for p in c.get("phones") or [] if isinstance(p, dict)]
            ).strip()
            for c in item.get("contacts") or []
            if isinstance(c, dict)
        ]
        return "\n".join(cards), []
    if kind == "button":
        return str(body.get("text") or ""), []
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return str(reply.get("title") or ""), []
    return f"[unsupported WhatsApp message: {kind}]", []
