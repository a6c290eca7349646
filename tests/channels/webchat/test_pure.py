"""The widget's pure parts: the signed-identity check and the adapter's payload parsing."""

from __future__ import annotations

import json

import pytest

from opora.channels.base import ChannelConfig, InvalidSignature, UnparseablePayload, WebhookRequest
from opora.channels.webchat.adapter import WebchatAdapter, check_config
from opora.channels.webchat.history import initials
from opora.channels.webchat.identity import Claim, sign, signed_message, verify

ADAPTER = WebchatAdapter(ChannelConfig(id=1, type="webchat", name="chat", settings={"public_key": "k" * 10}))


def test_the_signed_string_is_id_colon_lower_cased_email() -> None:
    assert signed_message(" 42 ", " Ivan@Example.COM ") == b"42:ivan@example.com"
    # The documented example, computed independently: echo -n 42:ivan@example.com | openssl dgst -sha256 -hmac s3cret
    assert sign("s3cret", "42", "ivan@example.com") == (
        "d3f1721279bf5d23d9649935b244c5a5bf62a9caed762a3ffd1fbfa6d329b4ca"
    )


@pytest.mark.parametrize(
    ("secret", "claim", "ok"),
    [
        (
            "s3cret",
            Claim(id="42", email="ivan@example.com", signature=sign("s3cret", "42", "ivan@example.com")),
            True,
        ),
        (
            "s3cret",
            Claim(email="IVAN@example.com", signature=sign("s3cret", "", "ivan@example.com").upper()),
            True,
        ),
        (
            "s3cret",
            Claim(id="43", email="ivan@example.com", signature=sign("s3cret", "42", "ivan@example.com")),
            False,
        ),
        (
            "other",
            Claim(id="42", email="ivan@example.com", signature=sign("s3cret", "42", "ivan@example.com")),
            False,
        ),
        ("s3cret", Claim(id="42", email="ivan@example.com"), False),
        (None, Claim(id="42", signature=sign("", "42", "")), False),
        ("s3cret", Claim(signature=sign("s3cret", "", "")), False),
    ],
)
def test_only_a_matching_signature_is_trusted(secret: str | None, claim: Claim, ok: bool) -> None:
    assert verify(secret, claim) is ok


def test_parse_keys_the_message_by_visitor_and_client_id_and_threads_by_reference() -> None:
    payload = {
        "visitor": "vABC",
        "client_id": "c1",
        "text": "Где заказ?",
        "reply_to": "vABC:c0",
        "language": "ru",
        "email": "ivan@example.com",
        "offline": True,
        "files": [{"filename": "a.png", "content_type": "image/png", "data": "iVBORw0KGgo="}],
    }
    [message] = ADAPTER.parse(json.dumps(payload).encode(), "application/json")
    assert message.external_id == "vABC:c1"
    assert (message.sender_kind, message.sender_value) == ("webchat", "vABC")
    assert message.reply_to == "vABC:c0"
    assert message.metadata["continues_conversation"] is False
    assert message.metadata["reply_email"] == "ivan@example.com"
    assert message.metadata["offline"] is True
    assert message.attachments[0].data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"visitor": "v"}', b'{"visitor":"v","client_id":"c","files":[{"data":"*"}]}'],
)
def test_parse_refuses_what_the_widget_never_stores(raw: bytes) -> None:
    with pytest.raises(UnparseablePayload):
        ADAPTER.parse(raw, "application/json")


def test_the_generic_webhook_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        ADAPTER.verify(WebhookRequest(method="POST", path="/", headers={}, body=b"{}"))


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"public_key": "short"},
        {"public_key": "k" * 10, "color": "red"},
        {"public_key": "k" * 10, "upload_types": ["image/svg+xml"]},
    ],
)
def test_config_check_refuses_bad_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        check_config(settings, {})


def test_initials() -> None:
    assert initials("Ольга Смирнова") == "ОС"
    assert initials("olga") == "O"
    assert initials("") == "?"
