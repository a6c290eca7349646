"""The VK community adapter: Callback API events in, messages.send out.

VK answers each callback only when it gets the plain text ``ok`` (otherwise it redelivers, and
after enough failures switches the server off); a ``confirmation`` event must get the code shown
in the community's settings instead, and is never stored. Photos and documents are kept as links
(VK serves them from public URLs), named in the message text so the agent can open them.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    UnparseablePayload,
    WebhookReply,
    WebhookRequest,
)
from opora.channels.vk import api
from opora.channels.vk.config import VkSettings, load
from opora.customers.models import IdentityKind

# Peers above this are group chats; the desk talks to people one to one.
CHAT_PEER_BASE = 2_000_000_000
MAX_TEXT = 4096
# VK's lang_id of the client (client_info.lang_id).
_LANGUAGES = {0: "ru", 3: "en"}


class VkAdapter:
    webhook_ack = WebhookReply(200, b"ok")

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.settings: VkSettings | None = None
        self.settings_error: str | None = None
        try:
            self.settings = load(config.settings, config.secrets)
        except ValueError as exc:
            self.settings_error = str(exc)

    # -- webhook -----------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """The secret key travels inside the JSON body; the event must be for our community."""
        settings = self.settings
        if settings is None:
            raise InvalidSignature("This VK channel is not configured; its webhook is closed.")
        event = _event(request.body)
        if event is None:
            if settings.secret:
                raise InvalidSignature("The body is not a VK event, so its secret cannot be checked.")
            return  # stored and quarantined by parse: an admin can look at it
        if settings.secret is not None:
            given = event.get("secret")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), settings.secret.encode()
            ):
                raise InvalidSignature("The Callback API secret does not match.")
        if event.get("group_id") != settings.group_id:
            raise InvalidSignature("The event is for another community.")

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        if request.method != "POST" or self.settings is None:
            return None
        event = _event(request.body)
        if event is not None and event.get("type") == "confirmation":
            return WebhookReply(200, self.settings.confirmation_code.encode())
        return None

    def payload_id(self, request: WebhookRequest) -> str | None:
        # A redelivered event keeps its event_id even if VK rebuilds the body.
        event = _event(request.body)
        event_id = event.get("event_id") if event else None
        return f"vk-event:{event_id}" if isinstance(event_id, str) and 0 < len(event_id) <= 200 else None

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        event = _event(payload)
        if event is None or not isinstance(event.get("type"), str):
            raise UnparseablePayload("not a VK Callback API event")
        # message_reply is our own answer echoed back; edits, typing and permission events are
        # not customer messages.
        if event["type"] != "message_new":
            return []
        obj = event.get("object")
        message = obj.get("message") if isinstance(obj, dict) else None
        if not isinstance(message, dict):
            raise UnparseablePayload(
                "message_new without object.message (API version 5.103 or later is needed)"
            )
        peer_id, from_id = message.get("peer_id"), message.get("from_id")
        if not isinstance(peer_id, int) or not isinstance(from_id, int) or not message.get("id"):
            raise UnparseablePayload("message_new without id, peer_id or from_id")
        if peer_id >= CHAT_PEER_BASE or from_id <= 0 or message.get("out"):
            return []
        links = _attachments(message.get("attachments"))
        text = str(message.get("text") or "")
        if links:
            lines = [" ".join(p for p in (f"[{a['type']}]", a["title"], a["url"]) if p) for a in links]
            text = "\n".join([text, *lines]).strip()
        metadata: dict[str, Any] = {"vk": {"peer_id": peer_id, "group_id": event.get("group_id")}}
        if links:
            metadata["vk_attachments"] = links
        client_info = obj.get("client_info") if isinstance(obj, dict) else None
        lang_id = client_info.get("lang_id") if isinstance(client_info, dict) else None
        language = _LANGUAGES.get(lang_id) if isinstance(lang_id, int) else None
        if language:
            metadata["language"] = language
        reply = message.get("reply_message")
        return [
            InboundMessage(
                external_id=str(message["id"]),
                sender_kind=IdentityKind.VK,
                sender_value=str(from_id),
                text=text,
                reply_to=str(reply["id"]) if isinstance(reply, dict) and reply.get("id") else None,
                sent_at=_time(message.get("date")),
                metadata=metadata,
            )
        ]

    # -- sending -------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = self.settings
        if settings is None:
            return DeliveryResult.failed(
                f"the channel's settings are invalid: {self.settings_error}", retriable=False
            )
        if message.recipient_kind != IdentityKind.VK or not message.recipient_value.strip().isdigit():
            return DeliveryResult.failed(f"{message.recipient_value!r} is not a VK user id", retriable=False)
        peer_id = int(message.recipient_value)
        text = message.text if message.text.strip() else ""
        chunks = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)] or [""]
        try:
            async with api.client() as http:
                attached = [
                    await api.upload_document(
                        http,
                        settings,
                        peer_id=peer_id,
                        filename=a.filename,
                        content_type=a.content_type,
                        data=a.data,
                    )
                    for a in message.attachments
                ]
                if not text and not attached:
                    return DeliveryResult.failed("the reply is empty", retriable=False)
                ids = []
                for index, chunk in enumerate(chunks):
                    params: dict[str, Any] = {
                        "peer_id": peer_id,
                        "random_id": api.random_id(f"{message.idempotency_key}:{index}"),
                        "message": chunk,
                    }
                    if index == 0 and attached:
                        params["attachment"] = ",".join(attached)
                    ids.append(await api.call(http, settings, "messages.send", params))
        except api.ApiError as exc:
            return DeliveryResult.failed(str(exc), retriable=exc.retriable)
        return DeliveryResult.sent(str(ids[0]))


def _event(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _attachments(items: Any) -> list[dict[str, str]]:
    """Links to what the customer attached: the biggest size of a photo, a document's own URL."""
    links: list[dict[str, str]] = []
    for item in items if isinstance(items, list) else []:
        kind = item.get("type") if isinstance(item, dict) else None
        body = item.get(kind) if kind else None
        if not isinstance(body, dict):
            continue
        if kind == "photo":
            sizes = [s for s in body.get("sizes") or [] if isinstance(s, dict) and s.get("url")]
            if sizes:
                best = max(sizes, key=lambda s: int(s.get("width") or 0) * int(s.get("height") or 0))
                links.append({"type": "photo", "title": str(body.get("text") or ""), "url": str(best["url"])})
        elif kind == "doc" and body.get("url"):
            links.append({"type": "doc", "title": str(body.get("title") or ""), "url": str(body["url"])})
        elif kind == "audio_message" and (body.get("link_ogg") or body.get("link_mp3")):
            links.append(
                {"type": "voice", "title": "", "url": str(body.get("link_mp3") or body.get("link_ogg"))}
            )
        elif kind in ("video", "wall") and "owner_id" in body and "id" in body:
            links.append(
                {
                    "type": kind,
                    "title": str(body.get("title") or ""),
                    "url": f"https://vk.com/{kind}{body['owner_id']}_{body['id']}",
                }
            )
        elif kind == "sticker":
            links.append({"type": "sticker", "title": "", "url": ""})
    return links
