"""Bot API Update objects → inbound messages. Pure: no I/O, no clock.

Files (photos, documents, voice, …) are only *described* here, in the message metadata under
``telegram.files``: their bytes need a getFile call, which a pure parser may not make. A job
fetches them once the message is stored (see ``files.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from opora.channels.base import InboundMessage, UnparseablePayload
from opora.customers.models import IdentityKind

SUBJECT_CHARS = 80
MAX_FILES = 10
# Each file kind: (fallback content type, fallback file extension).
_FILE_KINDS: dict[str, tuple[str, str]] = {
    "document": ("application/octet-stream", ""),
    "voice": ("audio/ogg", ".ogg"),
    "audio": ("audio/mpeg", ".mp3"),
    "video": ("video/mp4", ".mp4"),
    "video_note": ("video/mp4", ".mp4"),
    "animation": ("video/mp4", ".mp4"),
}


def update_id(payload: bytes) -> int | None:
    """The update's number, the inbox's idempotency key; None when the body is not an update."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def payload_key(number: int) -> str:
    return f"update:{number}"


def message_key(chat_id: int | str, message_id: int | str) -> str:
    """A message's external id: message ids are numbered per chat."""
    return f"{chat_id}:{message_id}"


def parse_update(payload: bytes) -> list[InboundMessage]:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise UnparseablePayload(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or update_id(payload) is None:
        raise UnparseablePayload("not a Telegram Update: no update_id")
    number = data["update_id"]
    if isinstance(data.get("message"), dict):
        message = _message(data["message"], number, edited=False)
    elif isinstance(data.get("edited_message"), dict):
        message = _message(data["edited_message"], number, edited=True)
    elif isinstance(data.get("callback_query"), dict):
        message = _button(data["callback_query"], number)
    else:
        # Other update kinds (a user blocking the bot, channel posts, …) open no conversation.
        return []
    return [] if message is None else [message]


def _message(msg: dict[str, Any], number: int, *, edited: bool) -> InboundMessage | None:
    chat = msg.get("chat")
    sender = msg.get("from")
    message_id = msg.get("message_id")
    if not isinstance(chat, dict) or not isinstance(message_id, int) or not isinstance(chat.get("id"), int):
        raise UnparseablePayload("the message has no chat id or message id")
    if chat.get("type") != "private":
        # A bot added to a group sees other people's talk; support happens in private chats.
        return None
    if not isinstance(sender, dict) or not isinstance(sender.get("id"), int):
        raise UnparseablePayload("the message has no sender (from.id)")
    if sender.get("is_bot"):
        return None
    text = _text(msg)
    if text.strip() == "/start" and not edited:
        # Pressing "Start" opens the chat with the bot; it is not a question yet.
        return None
    files = _files(msg)
    if not text and not files:
        return None  # service messages (pins, auto-delete timers, …)
    chat_id = chat["id"]
    key = message_key(chat_id, message_id)
    telegram: dict[str, Any] = {
        "update_id": number,
        "chat_id": chat_id,
        "message_id": message_id,
        "user_id": sender["id"],
        "username": _str(sender.get("username")),
        "first_name": _str(sender.get("first_name")),
        "last_name": _str(sender.get("last_name")),
        "language_code": _str(sender.get("language_code")),
    }
    if files:
        telegram["files"] = files
    metadata: dict[str, Any] = {"continues_conversation": True}
    language = _language(sender.get("language_code"))
    if language:
        metadata["language"] = language
    external_id, reply_to, stamp = key, None, msg.get("date")
    reply = msg.get("reply_to_message")
    if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
        reply_to = message_key(chat_id, reply["message_id"])
    if edited:
        # Each edit is a message of its own, keyed by its edit date, so that a redelivered edit
        # is dropped but a second edit is kept; it threads to the message it changes.
        edit_date = msg.get("edit_date")
        if not isinstance(edit_date, int):
            raise UnparseablePayload("an edited message without edit_date")
        external_id, reply_to, stamp = f"{key}:edit:{edit_date}", key, edit_date
        telegram["edit_of"] = key
        telegram["edit_date"] = edit_date
        metadata["edited"] = True
    metadata["telegram"] = {k: v for k, v in telegram.items() if v is not None}
    return InboundMessage(
        external_id=external_id,
        sender_kind=IdentityKind.TELEGRAM,
        sender_value=str(sender["id"]),
        sender_name=_name(sender),
        text=text,
        reply_to=reply_to,
        subject=_subject(text) or None,
        sent_at=datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else None,
        metadata=metadata,
    )


def _button(query: dict[str, Any], number: int) -> InboundMessage | None:
    """A press on an inline button under one of our messages (the bot's "did this help?").

    It becomes a customer message whose text is the button's label, threaded to the message
    that carried the button, with the button's data as ``quick_reply`` for the bot.
    """
    sender = query.get("from")
    msg = query.get("message")
    data = query.get("data")
    if (
        not isinstance(query.get("id"), str)
        or not isinstance(sender, dict)
        or not isinstance(sender.get("id"), int)
    ):
        raise UnparseablePayload("a callback query without an id or a sender")
    if sender.get("is_bot") or not isinstance(data, str) or not isinstance(msg, dict):
        return None
    chat = msg.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(chat.get("id"), int):
        return None
    if not isinstance(msg.get("message_id"), int):
        return None
    label = data
    markup = msg.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if (
                isinstance(button, dict)
                and button.get("callback_data") == data
                and isinstance(button.get("text"), str)
            ):
                label = button["text"]
    telegram = {
        "update_id": number,
        "chat_id": chat["id"],
        "user_id": sender["id"],
        "callback_query_id": query["id"],
        "username": _str(sender.get("username")),
        "first_name": _str(sender.get("first_name")),
        "last_name": _str(sender.get("last_name")),
        "language_code": _str(sender.get("language_code")),
    }
    metadata: dict[str, Any] = {
        "continues_conversation": True,
        "quick_reply": data[:64],
        "telegram": {k: v for k, v in telegram.items() if v is not None},
    }
    language = _language(sender.get("language_code"))
    if language:
        metadata["language"] = language
    return InboundMessage(
        external_id=f"callback:{query['id']}",
        sender_kind=IdentityKind.TELEGRAM,
        sender_value=str(sender["id"]),
        sender_name=_name(sender),
        text=label,
        reply_to=message_key(chat["id"], msg["message_id"]),
        metadata=metadata,
    )


def _text(msg: dict[str, Any]) -> str:
    for key in ("text", "caption"):
        if isinstance(msg.get(key), str) and msg[key]:
            return str(msg[key])
    sticker = msg.get("sticker")
    if isinstance(sticker, dict):
        return str(sticker.get("emoji") or "[sticker]")
    contact = msg.get("contact")
    if isinstance(contact, dict):
        name = " ".join(_str(contact.get(k)) or "" for k in ("first_name", "last_name")).strip()
        return f"[contact] {name} {_str(contact.get('phone_number')) or ''}".strip()
    location = msg.get("location")
    if isinstance(location, dict):
        return f"[location] {location.get('latitude')}, {location.get('longitude')}"
    return ""


def _files(msg: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    photo = msg.get("photo")
    if isinstance(photo, list):
        sizes = [p for p in photo if isinstance(p, dict) and isinstance(p.get("file_id"), str)]
        if sizes:
            # Telegram lists the sizes smallest first, but the order is not promised: pick by area.
            best = max(
                sizes, key=lambda p: (_int(p.get("width")) * _int(p.get("height")), _int(p.get("file_size")))
            )
            found.append(_file("photo", best, "image/jpeg", f"photo-{_unique(best)}.jpg"))
    for kind, (content_type, extension) in _FILE_KINDS.items():
        item = msg.get(kind)
        if isinstance(item, dict) and isinstance(item.get("file_id"), str):
            name = _str(item.get("file_name")) or f"{kind}-{_unique(item)}{extension}"
            found.append(_file(kind, item, _str(item.get("mime_type")) or content_type, name))
    return found[:MAX_FILES]


def _file(kind: str, item: dict[str, Any], content_type: str, filename: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": kind,
        "file_id": item["file_id"],
        "file_unique_id": _unique(item),
        "filename": filename[:255],
        "content_type": content_type[:100],
    }
    for extra in ("file_size", "duration", "width", "height"):
        if isinstance(item.get(extra), int):
            entry[extra] = item[extra]
    return entry


def _unique(item: dict[str, Any]) -> str:
    return _str(item.get("file_unique_id")) or str(item["file_id"])[-16:]


def _name(sender: dict[str, Any]) -> str | None:
    name = " ".join(n for n in (_str(sender.get("first_name")), _str(sender.get("last_name"))) if n)
    return name or (f"@{sender['username']}" if _str(sender.get("username")) else None)


def _language(code: Any) -> str | None:
    # Telegram sends the app's IETF tag ("ru", "en", "en-GB"); the desk speaks ru and en.
    if not isinstance(code, str):
        return None
    base = code.split("-", 1)[0].lower()
    return base if base in ("ru", "en") else None


def _subject(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1].rstrip() + "…"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
