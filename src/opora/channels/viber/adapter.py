"""The Viber bot adapter: signed callbacks in, send_message out.

Every callback carries ``X-Viber-Content-Signature``, the HMAC-SHA256 of the raw body keyed with
the bot's token. The ``webhook`` event Viber sends when the webhook is set is answered and not
stored. Pictures, videos and files arrive as links to Viber's media servers: ``parse`` keeps the
link, and a job downloads the file into the attachment store (``media.py``). Replies' files go out
as ``picture`` or ``file`` messages whose media URL is a signed link to the desk (``files.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    DeliveryState,
    DeliveryUpdate,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    UnparseablePayload,
    WebhookReply,
    WebhookRequest,
)
from opora.channels.viber.config import ViberSettings, load
from opora.channels.viber.files import file_url
from opora.customers.models import IdentityKind
from opora.kit.crypto import hmac_hex_matches

SIGNATURE_HEADER = "x-viber-content-signature"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_TEXT = 7000
# Viber's documented limits: a picture's caption, a picture's size (larger ones go as a file),
# the types Viber shows as a picture, a file's size and name.
MAX_CAPTION = 120
MAX_PICTURE_BYTES = 1024 * 1024
PICTURE_TYPES = ("image/jpeg", "image/png", "image/gif")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILE_NAME = 256
_STATES = {"delivered": DeliveryState.DELIVERED, "seen": DeliveryState.READ, "failed": DeliveryState.FAILED}
# send_message status codes worth another try: Viber's rate limit and its own trouble.
RETRIABLE_STATUSES = frozenset({12})
_EXPLAINED = {
    5: ("the customer is not a Viber user any more", "клиент больше не пользуется Viber"),
    6: (
        "the customer has not subscribed to the bot or has unsubscribed",
        "клиент не подписан на бота или отписался",
    ),
}


class ViberAdapter:
    webhook_ack = WebhookReply(200, b"")

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.settings: ViberSettings | None = None
        self.settings_error: str | None = None
        try:
            self.settings = load(config.settings, config.secrets)
        except ValueError as exc:
            self.settings_error = str(exc)

    # -- webhook -----------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        if self.settings is None:
            raise InvalidSignature("This Viber channel is not configured; its webhook is closed.")
        given = (request.header(SIGNATURE_HEADER) or "").strip().lower()
        if not hmac_hex_matches(given, self.settings.auth_token, request.body):
            raise InvalidSignature("The X-Viber-Content-Signature header does not match the body.")

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        event = _event(request.body) if request.method == "POST" else None
        if event is not None and event.get("event") == "webhook":
            return WebhookReply(200, b"")
        return None

    def payload_id(self, request: WebhookRequest) -> str | None:
        # A delivery report and the message it reports on share the message token.
        event = _event(request.body)
        if event is None or not event.get("message_token") or not isinstance(event.get("event"), str):
            return None
        user = (event.get("sender") or event.get("user") or {}).get("id") or event.get("user_id") or ""
        return f"viber:{event['event']}:{event['message_token']}:{user}"[:500]

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        event = _event(payload)
        if event is None or not isinstance(event.get("event"), str):
            raise UnparseablePayload("not a Viber callback")
        # subscribed / conversation_started / unsubscribed name a user but carry no words: the
        # customer is made from their first message, which repeats the name and language.
        if event["event"] != "message":
            return []
        sender, message = event.get("sender"), event.get("message")
        if not isinstance(sender, dict) or not isinstance(message, dict) or not sender.get("id"):
            raise UnparseablePayload("a message event without sender or message")
        if not event.get("message_token"):
            raise UnparseablePayload("a message event without message_token")
        metadata: dict[str, Any] = {"viber": {"type": message.get("type")}}
        language = str(sender.get("language") or "")[:2].lower()
        if language in ("ru", "en"):
            metadata["language"] = language
        text, link = _content(message)
        if link:
            metadata["viber_attachments"] = [link]
        return [
            InboundMessage(
                external_id=str(event["message_token"]),
                sender_kind=IdentityKind.VIBER,
                sender_value=str(sender["id"]),
                sender_name=str(sender.get("name") or "") or None,
                text=text,
                sent_at=_time(event.get("timestamp")),
                metadata=metadata,
            )
        ]

    def parse_updates(self, payload: bytes, content_type: str) -> list[DeliveryUpdate]:
        event = _event(payload)
        if event is None or event.get("event") not in _STATES or not event.get("message_token"):
            return []
        state = _STATES[event["event"]]
        error = None
        if state == DeliveryState.FAILED:
            error = f"Viber could not deliver the message: {event.get('desc') or 'no reason given'}"[:2000]
        return [DeliveryUpdate(str(event["message_token"]), state, error, _time(event.get("timestamp")))]

    # -- sending -------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = self.settings
        if settings is None:
            return DeliveryResult.failed(
                f"the channel's settings are invalid: {self.settings_error}", retriable=False
            )
        if message.recipient_kind != IdentityKind.VIBER or not message.recipient_value.strip():
            return DeliveryResult.failed(
                f"{message.recipient_value!r} is not a Viber user id", retriable=False
            )
        bodies = self._bodies(settings, message)
        if isinstance(bodies, DeliveryResult):
            return bodies
        # One Viber message per file. Viber has no idempotency key, so a retry after a failure
        # part-way starts at the first part that did not go out (the job keeps the count).
        done, first = message.resume_point()
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, follow_redirects=False) as http:
                for body in bodies[done:]:
                    answer = await http.post(
                        settings.url("send_message"),
                        json=body,
                        headers={"X-Viber-Auth-Token": settings.auth_token},
                    )
                    result = result_of(answer.status_code, answer.content)
                    if not result.ok:
                        return _part_way(result, done, first)
                    first = first or result.provider_message_id
                    done += 1
        except httpx.HTTPError as exc:
            failed = DeliveryResult.failed(
                f"Viber is unreachable: {exc.__class__.__name__}: {exc}", retriable=True
            )
            return _part_way(failed, done, first)
        return DeliveryResult.sent(first)

    def _bodies(
        self, settings: ViberSettings, message: OutboundMessage
    ) -> list[dict[str, Any]] | DeliveryResult:
        """The send_message bodies of a reply: its text (as a picture's caption when short), then
        one picture or file message per attachment."""
        if not message.text.strip() and not message.attachments:
            return DeliveryResult.failed("the reply is empty", retriable=False)
        sender: dict[str, str] = {"name": settings.sender_name}
        if settings.sender_avatar:
            sender["avatar"] = settings.sender_avatar
        common = {
            "receiver": message.recipient_value.strip(),
            "min_api_version": 1,
            "sender": sender,
            "tracking_data": message.idempotency_key,
        }
        files: list[dict[str, Any]] = []
        for item in message.attachments:
            if settings.files_base_url is None or item.sha256 is None:
                # Viber fetches files from a public URL, and the desk has none configured.
                return DeliveryResult.failed(
                    "viber_attachments_unsupported: set the channel's files_base_url (the desk's public "
                    "address) to send files to Viber, or send the text alone.\nЧтобы отправлять файлы "
                    "в Viber, укажите files_base_url канала (публичный адрес деска) или отправьте текст "
                    "без вложений.",
                    retriable=False,
                )
            if len(item.data) > MAX_FILE_BYTES:
                return DeliveryResult.failed(
                    f"viber_file_too_large: {item.filename} is larger than Viber's {MAX_FILE_BYTES} bytes.\n"
                    f"Файл {item.filename} больше предела Viber ({MAX_FILE_BYTES} байт).",
                    retriable=False,
                )
            url = file_url(
                settings.files_base_url, settings.auth_token, self.config.id, item.sha256, item.filename
            )
            if item.content_type in PICTURE_TYPES and len(item.data) <= MAX_PICTURE_BYTES:
                files.append({**common, "type": "picture", "text": "", "media": url})
            else:
                name = item.filename[-MAX_FILE_NAME:] or "file"
                files.append(
                    {**common, "type": "file", "media": url, "size": len(item.data), "file_name": name}
                )
        text = message.text.strip()
        if text and files and files[0]["type"] == "picture" and len(text) <= MAX_CAPTION:
            files[0]["text"] = text
            text = ""
        texts = [{**common, "type": "text", "text": message.text[:MAX_TEXT]}] if text else []
        return texts + files


def _part_way(result: DeliveryResult, done: int, first: str | None) -> DeliveryResult:
    if not done:
        return result
    return DeliveryResult.failed(
        result.error or "failed",
        retriable=result.retriable,
        retry_after=result.retry_after,
        parts_sent=done,
        first_part_id=first,
    )


def result_of(status_code: int, content: bytes) -> DeliveryResult:
    """Viber answers HTTP 200 with its own ``status``; 0 is success."""
    if status_code >= 300:
        return DeliveryResult.failed(
            f"Viber answered HTTP {status_code}", retriable=status_code >= 500 or status_code == 429
        )
    data = _event(content)
    if data is None:
        return DeliveryResult.failed("Viber answered with something that is not JSON", retriable=True)
    status = data.get("status")
    if status == 0 and data.get("message_token"):
        return DeliveryResult.sent(str(data["message_token"]))
    if status in _EXPLAINED:
        en, ru = _EXPLAINED[status]
        return DeliveryResult.failed(
            f"viber_status_{status}: {en}.\n{ru[0].upper()}{ru[1:]}.", retriable=False
        )
    return DeliveryResult.failed(
        f"Viber status {status}: {data.get('status_message') or 'unknown error'}"[:2000],
        retriable=status in RETRIABLE_STATUSES,
    )


def _event(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)  # Viber counts milliseconds
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _content(message: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    kind = str(message.get("type") or "")
    text = str(message.get("text") or "")
    if kind in ("picture", "video", "file") and message.get("media"):
        name = str(message.get("file_name") or "")
        link: dict[str, Any] = {"type": kind, "title": name, "url": str(message["media"])}
        if isinstance(message.get("size"), int) and not isinstance(message.get("size"), bool):
            link["size"] = message["size"]
        line = " ".join(p for p in (f"[{kind}]", name, link["url"]) if p)
        return "\n".join(p for p in (text, line) if p), link
    if kind == "location" and isinstance(message.get("location"), dict):
        return f"📍 {message['location'].get('lat')}, {message['location'].get('lon')}", None
    if kind == "contact" and isinstance(message.get("contact"), dict):
        contact = message["contact"]
        return f"{contact.get('name') or ''} {contact.get('phone_number') or ''}".strip(), None
    if kind == "sticker":
        return text or "[sticker]", None
    return text, None
