"""The Telegram channel adapter: Bot API updates in, sendMessage / sendPhoto / sendDocument out."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    InvalidSignature,
    OutboundAttachment,
    OutboundMessage,
    WebhookRequest,
)
from opora.channels.telegram.api import BotApi, TelegramError
from opora.channels.telegram.config import TelegramSettings, load
from opora.channels.telegram.parse import message_key, parse_update, payload_key, update_id
from opora.customers.models import IdentityKind

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
CONTENT_TYPE = "application/json"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
PHOTO_MAX_BYTES = 10 * 1024 * 1024
# A 429 asking for at most this long is waited out inside the send (the common per-chat limit
# of about one message a second); a longer one goes back to the job queue as a retriable failure.
INLINE_WAIT_SECONDS = 10.0


class TelegramAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        # Broken settings must not stop inbound updates already stored: parsing needs none.
        self.settings: TelegramSettings | None = None
        self.settings_error: str | None = None
        try:
            self.settings = load(config.settings, config.secrets)
        except ValueError as exc:
            self.settings_error = str(exc)

    # -- inbound ---------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Telegram echoes the secret_token given to setWebhook in a header on every call."""
        expected = self.settings.webhook_secret if self.settings else None
        given = request.header(SECRET_HEADER) or ""
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise InvalidSignature("The Telegram secret token is missing or wrong.")

    def payload_id(self, request: WebhookRequest) -> str | None:
        """Telegram numbers its updates and redelivers the same number; long polling uses the
        same key, so switching modes never stores an update twice."""
        number = update_id(request.body)
        return payload_key(number) if number is not None else None

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        return parse_update(payload)

    # -- outbound --------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if self.settings is None:
            return DeliveryResult.failed(
                f"the channel's settings are invalid: {self.settings_error}", retriable=False
            )
        chat_id = message.recipient_value.strip()
        if message.recipient_kind != IdentityKind.TELEGRAM or not chat_id.lstrip("-").isdigit():
            return DeliveryResult.failed(f"{chat_id!r} is not a Telegram chat", retriable=False)
        parts = _parts(int(chat_id), message.text, message.attachments, keyboard(message.metadata))
        if not parts:
            return DeliveryResult.failed("the reply has neither text nor files", retriable=False)
        # The Bot API has no idempotency key: a retry after a failure part-way starts at the
        # first part that did not go out (the job keeps the count, see DeliveryResult).
        done, first = message.resume_point()
        async with BotApi(self.settings) as api:
            for part in parts[done:]:
                try:
                    sent = await _call(api, part.method, part.params, part.files)
                except TelegramError as exc:
                    return DeliveryResult.failed(
                        _explain(exc),
                        retriable=exc.retriable,
                        retry_after=exc.retry_after if exc.status == 429 else None,
                        parts_sent=done,
                        first_part_id=first,
                    )
                first = first or message_key(chat_id, sent)
                done += 1
        return DeliveryResult.sent(first)


def keyboard(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """Quick replies ([[label, payload], ...]) as one row of inline buttons; a press comes back
    as a callback_query update (see parse.py)."""
    buttons = [
        {"text": str(label)[:64], "callback_data": str(payload)[:64]}
        for label, payload in (metadata.get("quick_replies") or [])
    ]
    return {"inline_keyboard": [buttons]} if buttons else None


@dataclass(frozen=True)
class _Part:
    method: str
    params: dict[str, object]
    files: dict[str, tuple[str, bytes, str]] | None = None


def _parts(
    chat_id: int,
    text: str,
    attachments: tuple[OutboundAttachment, ...],
    markup: dict[str, Any] | None = None,
) -> list[_Part]:
    """The Bot API calls of a reply, in order. Text that fits rides as the caption of the first
    file, so a reply with one file is one message."""
    parts: list[_Part] = []
    text = text.strip()
    caption = text if attachments and len(text) <= CAPTION_LIMIT else ""
    if text and not caption:
        chunks = split_text(text, TEXT_LIMIT)
        for index, chunk in enumerate(chunks):
            params: dict[str, object] = {"chat_id": chat_id, "text": chunk}
            if markup and index == len(chunks) - 1 and not attachments:
                params["reply_markup"] = markup  # the buttons go under the last part
            parts.append(_Part("sendMessage", params))
    for index, item in enumerate(attachments):
        photo = item.content_type.lower() in PHOTO_TYPES and len(item.data) <= PHOTO_MAX_BYTES
        field = "photo" if photo else "document"
        params = {"chat_id": str(chat_id)}
        if index == 0 and caption:
            params["caption"] = caption
        files = {field: (item.filename or "file", item.data, item.content_type or "application/octet-stream")}
        parts.append(_Part("sendPhoto" if photo else "sendDocument", params, files))
    return parts


async def _call(
    api: BotApi,
    method: str,
    params: dict[str, object],
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> int:
    try:
        result = await api.call(method, params, files=files)
    except TelegramError as exc:
        if exc.status != 429 or exc.retry_after is None or exc.retry_after > INLINE_WAIT_SECONDS:
            raise
        log.info("Telegram asks to wait %.0fs before %s", exc.retry_after, method)
        await asyncio.sleep(exc.retry_after)
        result = await api.call(method, params, files=files)
    message_id = result.get("message_id") if isinstance(result, dict) else None
    if not isinstance(message_id, int):
        raise TelegramError(f"{method} answered without a message_id", status=502)
    return message_id


def _explain(exc: TelegramError) -> str:
    text = str(exc)
    if exc.status == 429 and exc.retry_after is not None:
        return f"{text} (retry after {exc.retry_after:g} s)"
    if exc.status == 403:
        # "Forbidden: bot was blocked by the user": only the customer can undo it.
        return f"{text} (the customer blocked the bot or deleted the chat; they must write first)"
    return text


def split_text(text: str, limit: int) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at a line break or a space if any."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return [p for p in pieces if p]
