"""build_reply: threading headers, subject tags, loop markers, and a clean round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opora.channels.email import (
    Address,
    Attachment,
    build_reply,
    normalise_subject,
    parse_email,
    split_reply,
    tag_subject,
    ticket_number_from_subject,
)
from opora.channels.email.compose import MAX_REFERENCES, make_message_id, thread_references


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Re: RE: Где заказ?", "Где заказ?"),
        ("Fwd: FW: Fw: заказ", "заказ"),
        ("Отв: Ответ: Пересл.: Пересл: заказ", "заказ"),
        ("RE[2]: Re(3): AW: WG: SV: order", "order"),
        ("  Re :   spaced   out  ", "spaced out"),
        ("Reply needed", "Reply needed"),
        ("Рецепт: борщ", "Рецепт: борщ"),
        ("", ""),
    ],
)
def test_normalise_subject(subject: str, expected: str) -> None:
    assert normalise_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Re: [#1234] Где заказ?", 1234),
        ("[# 1234] x", 1234),
        ("[ #1234 ] x", 1234),
        ("Re: Заказ [#77]", 77),
        ("Заказ #1234", None),
        ("[Order #1234] shipped", None),
        ("[#] x", None),
        ("[#0] x", None),
        ("", None),
    ],
)
def test_ticket_number_from_subject(subject: str, number: int | None) -> None:
    assert ticket_number_from_subject(subject) == number


@pytest.mark.parametrize(
    "subject",
    [
        "Где заказ?",
        "Re: Где заказ?",
        "Re: Re: [#1234] Где заказ?",
        "RE: [# 1234] Re: Где заказ?",
        "[#99] Где заказ?",
    ],
)
def test_tag_subject_never_stacks(subject: str) -> None:
    assert tag_subject(subject, 1234) == "[#1234] Где заказ?"


def _reply(**overrides: object) -> bytes:
    params: dict[str, object] = {
        "channel_address": "support@shop.ru",
        "channel_name": "Магазин «Ромашка»",
        "to": [Address("ivan@mail.ru", "Иван Петров")],
        "subject": "Re: Re: Где заказ?",
        "ticket_number": 1234,
        "text": "Здравствуйте, Иван!\n\nЗаказ <1234> в пути & приедет завтра.",
        "in_reply_to": "<customer-2@mail.ru>",
        "references": ["<root@shop.ru>", "<customer-2@mail.ru>"],
        "date": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    }
    params.update(overrides)
    return bytes(build_reply(**params))  # type: ignore[arg-type]


def test_threading_headers_and_round_trip() -> None:
    parsed = parse_email(_reply(reply_to="help+1234@shop.ru", cc=["boss@mail.ru"]))
    assert parsed.subject == "Re: [#1234] Где заказ?"
    assert ticket_number_from_subject(parsed.subject) == 1234
    assert parsed.in_reply_to == "customer-2@mail.ru"
    assert parsed.references == ("root@shop.ru", "customer-2@mail.ru")
    assert parsed.message_id.endswith("@shop.ru")
    assert not parsed.message_id_synthesised
    assert parsed.from_address == Address("support@shop.ru", "Магазин «Ромашка»")
    assert parsed.to == (Address("ivan@mail.ru", "Иван Петров"),)
    assert [a.email for a in parsed.cc] == ["boss@mail.ru"]
    assert [a.email for a in parsed.reply_to] == ["help+1234@shop.ru"]
    assert parsed.date == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parsed.text.strip() == "Здравствуйте, Иван!\n\nЗаказ <1234> в пути & приедет завтра."
    assert parsed.html is not None
    assert "&lt;1234&gt;" in parsed.html
    assert "&amp;" in parsed.html
    assert not parsed.is_auto_reply
    assert parsed.may_auto_reply
    assert split_reply(parsed.text).reply == parsed.text.strip()


def test_agent_replies_are_not_marked_automatic_but_acknowledgements_are() -> None:
    assert b"Auto-Submitted" not in _reply()
    auto = parse_email(_reply(automatic=True))
    assert auto.loop_headers.auto_submitted == "auto-replied"
    assert auto.is_auto_reply
    assert not auto.may_auto_reply


def test_references_are_capped_but_keep_root_and_parent() -> None:
    refs = [f"<r{i}@x>" for i in range(60)]
    ids = thread_references("<parent@x>", refs)
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == "r0@x"
    assert ids[-1] == "parent@x"
    assert len(set(ids)) == len(ids)
    parsed = parse_email(_reply(in_reply_to="<parent@x>", references=refs))
    assert parsed.references == tuple(ids)


def test_first_message_has_no_threading_headers() -> None:
    raw = _reply(in_reply_to=None, references=[])
    assert b"In-Reply-To" not in raw
    assert b"References" not in raw


def test_message_id_is_deterministic_with_a_seed() -> None:
    assert make_message_id("shop.ru", "outbound-1") == make_message_id("shop.ru", "outbound-1")
    assert make_message_id("shop.ru", "outbound-1") != make_message_id("shop.ru", "outbound-2")
    assert make_message_id("shop.ru") != make_message_id("shop.ru")
    parsed = parse_email(_reply(message_id_seed="outbound-1"))
    assert f"<{parsed.message_id}>" == make_message_id("shop.ru", "outbound-1")


def test_given_html_and_attachments_round_trip() -> None:
    files = [
        Attachment("Счёт №5.pdf", "application/pdf", b"%PDF-1.4"),
        Attachment("logo.png", "image/png", b"\x89PNG", is_inline=True, content_id="logo@shop.ru"),
    ]
    html = '<p>Счёт во вложении <img src="cid:logo@shop.ru"></p>'
    parsed = parse_email(_reply(html=html, attachments=files))
    assert parsed.html is not None
    assert "cid:logo@shop.ru" in parsed.html
    by_name = {a.filename: a for a in parsed.attachments}
    assert by_name["Счёт №5.pdf"].content == b"%PDF-1.4"
    assert not by_name["Счёт №5.pdf"].is_inline
    assert by_name["logo.png"].is_inline
    assert by_name["logo.png"].content_id == "logo@shop.ru"


def test_header_injection_is_neutralised() -> None:
    raw = _reply(subject="Hi\r\nBcc: victim@example.com", to=[Address("ivan@mail.ru", "Ivan\r\nBcc: x@y")])
    assert b"\nBcc:" not in raw
    assert parse_email(raw).subject == "Re: [#1234] Hi Bcc: victim@example.com"
