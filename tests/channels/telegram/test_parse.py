"""The adapter without a database or a server: Bot API updates in, the secret check, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opora.channels.base import ChannelConfig, InvalidSignature, UnparseablePayload, WebhookRequest
from opora.channels.telegram.adapter import TelegramAdapter, split_text
from opora.channels.telegram.api import redact
from opora.channels.telegram.config import check_config
from opora.customers.models import IdentityKind
from tests.channels.telegram.fake_bot_api import TOKEN
from tests.channels.telegram.support import SECRET, fixture, raw


def adapter(**settings: Any) -> TelegramAdapter:
    secrets = {"bot_token": TOKEN, "webhook_secret": SECRET}
    return TelegramAdapter(
        ChannelConfig(id=1, type="telegram", name="bot", settings=settings, secrets=secrets)
    )


def request(headers: dict[str, str], body: bytes = b"{}") -> WebhookRequest:
    return WebhookRequest(method="POST", path="/api/v1/inbound/1", headers=headers, body=body)


def test_text_message_becomes_a_message_of_the_telegram_user() -> None:
    [message] = adapter().parse(raw("text_message"), "application/json")
    assert message.external_id == "424242001:101"
    assert message.sender_kind == IdentityKind.TELEGRAM
    assert message.sender_value == "424242001"
    assert message.sender_name == "Иван Петров"
    assert message.text.startswith("Здравствуйте! Где мой заказ 1234?")
    assert message.subject == "Здравствуйте! Где мой заказ 1234?"
    assert message.sent_at == datetime.fromtimestamp(1795424400, UTC)
    assert message.metadata["language"] == "ru"
    assert message.metadata["telegram"]["chat_id"] == 424242001
    assert message.metadata["telegram"]["update_id"] == 713890001
    assert message.reply_to is None and not message.attachments


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    [message] = adapter().parse(raw("photo"), "application/json")
    assert message.text == "Вот так пришла коробка"
    [photo] = message.metadata["telegram"]["files"]
    assert photo["file_id"] == "AgACAgIAAxkBAAIBZ2VpX2xhcmdl"
    assert photo["content_type"] == "image/jpeg"
    assert photo["filename"] == "photo-AQADlarge.jpg"


@pytest.mark.parametrize(
    ("name", "kind", "filename", "content_type"),
    [
        ("document", "document", "чек-1234.pdf", "application/pdf"),
        ("voice", "voice", "voice-AgADvoice.ogg", "audio/ogg"),
    ],
)
def test_files_are_described_for_the_fetch_job(
    name: str, kind: str, filename: str, content_type: str
) -> None:
    [message] = adapter().parse(raw(name), "application/json")
    assert message.text == ""
    [item] = message.metadata["telegram"]["files"]
    assert (item["kind"], item["filename"], item["content_type"]) == (kind, filename, content_type)


def test_an_edit_is_a_new_message_threaded_to_the_original() -> None:
    [message] = adapter().parse(raw("edited_message"), "application/json")
    assert message.external_id == "424242001:101:edit:1795424640"
    assert message.reply_to == "424242001:101"
    assert message.metadata["edited"] is True
    assert message.metadata["telegram"]["edit_of"] == "424242001:101"
    assert "1235" in message.text


def test_username_and_language_go_to_metadata() -> None:
    [message] = adapter().parse(raw("username_language"), "application/json")
    assert message.sender_name == "Emma Stone"
    assert message.metadata["language"] == "en"  # from "en-GB"
    assert message.metadata["telegram"]["username"] == "emma_s"
    assert message.metadata["telegram"]["language_code"] == "en-GB"


def test_a_reply_to_our_message_references_it() -> None:
    update = fixture("text_message")
    update["message"]["reply_to_message"] = {"message_id": 5001, "chat": update["message"]["chat"], "date": 0}
    [message] = adapter().parse(json.dumps(update).encode(), "application/json")
    assert message.reply_to == "424242001:5001"


@pytest.mark.parametrize(
    "change",
    [
        {"chat": {"id": -100123, "type": "supergroup", "title": "Shop fans"}},
        {"text": "/start"},
        {"text": None},
        {"from": {"id": 99, "is_bot": True, "first_name": "Other bot"}},
    ],
)
def test_group_chats_start_bots_and_service_messages_open_nothing(change: dict[str, Any]) -> None:
    update = fixture("text_message")
    update["message"].update(change)
    if update["message"]["text"] is None:
        del update["message"]["text"]
    assert adapter().parse(json.dumps(update).encode(), "application/json") == []


def test_other_update_kinds_are_ignored() -> None:
    body = {"update_id": 1, "my_chat_member": {"chat": {"id": 1, "type": "private"}}}
    assert adapter().parse(json.dumps(body).encode(), "application/json") == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"message": {}}', b'{"update_id": 5, "message": {}}'])
def test_garbage_is_unparseable(body: bytes) -> None:
    with pytest.raises(UnparseablePayload):
        adapter().parse(body, "application/json")


def test_secret_header_is_checked_in_constant_time_terms() -> None:
    adapter().verify(request({"x-telegram-bot-api-secret-token": SECRET}))
    for headers in ({}, {"x-telegram-bot-api-secret-token": SECRET + "x"}, {"x-other": SECRET}):
        with pytest.raises(InvalidSignature):
            adapter().verify(request(headers))


def test_a_channel_without_a_secret_accepts_no_webhook() -> None:
    config = ChannelConfig(
        id=1, type="telegram", name="bot", settings={"mode": "polling"}, secrets={"bot_token": TOKEN}
    )
    with pytest.raises(InvalidSignature):
        TelegramAdapter(config).verify(request({"x-telegram-bot-api-secret-token": ""}))


def test_payload_id_is_the_update_number() -> None:
    assert adapter().payload_id(request({}, raw("photo"))) == "update:713890002"
    assert adapter().payload_id(request({}, b"junk")) is None


@pytest.mark.parametrize(
    ("settings", "secrets", "error"),
    [
        ({}, {"webhook_secret": SECRET}, "bot_token"),
        ({}, {"bot_token": "nonsense", "webhook_secret": SECRET}, "bot_token"),
        ({}, {"bot_token": TOKEN}, "webhook_secret"),
        ({"mode": "push"}, {"bot_token": TOKEN, "webhook_secret": SECRET}, "mode"),
        ({"api_base_url": "ftp://x"}, {"bot_token": TOKEN, "webhook_secret": SECRET}, "api_base_url"),
        ({"mode": "polling", "poll_timeout": 600}, {"bot_token": TOKEN}, "poll_timeout"),
        ({}, {"bot_token": TOKEN, "webhook_secret": "has space"}, "webhook_secret"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], secrets: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_config(settings, secrets)


def test_polling_needs_no_webhook_secret() -> None:
    check_config({"mode": "polling"}, {"bot_token": TOKEN})


def test_long_text_is_split_at_line_breaks() -> None:
    text = "\n".join(f"строка {i:04d}" for i in range(1000))
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) == 3
    assert "\n".join(pieces) == text
    assert split_text("x" * 5000, 4096) == ["x" * 4096, "x" * 904]


def test_the_token_never_reaches_a_log_line() -> None:
    line = f"HTTP Request: POST https://api.telegram.org/bot{TOKEN}/sendMessage and /file/bot{TOKEN}/a.jpg"
    assert TOKEN not in redact(line)
    assert "/bot<token>/sendMessage" in redact(line) and "/file/bot<token>/a.jpg" in redact(line)
