"""Hostile and broken MIME never makes the parser raise anything but EmailParseError.

An exception escaping parse_email would stall the inbound job and, worse, hide a customer's
mail; so generated messages, random bytes and mutated real-looking mail all go through it.
"""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opora.channels.email import EmailParseError, parse_email, split_reply

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEEDS = [
    (
        "From: =?koi8-r?Q?=E9=D7=C1=CE?= <ivan@mail.ru>\r\nTo: support@shop.ru\r\n"
        "Subject: =?windows-1251?B?z/Do4uXy?=\r\nMessage-ID: <a@b>\r\nReferences: <r@x> <s@y>\r\n"
        "Date: Mon, 23 Nov 2026 12:00:00 +0300\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="AAA"\r\n\r\npreamble\r\n--AAA\r\n'
        'Content-Type: multipart/alternative; boundary="BBB"\r\n\r\n--BBB\r\n'
        "Content-Type: text/plain; charset=windows-1251; format=flowed; delsp=yes\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n=CF=F0=E8=E2=E5=F2 \r\n> =F1=F2=E0=F0=EE=E5\r\n"
        "--BBB\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("<p onclick=x()>Привет</p><blockquote>старое</blockquote>".encode()).decode()
        + "\r\n--BBB--\r\n--AAA\r\nContent-Type: application/pdf; name*=utf-8''%D1%81%D1%87.pdf\r\n"
        "Content-Disposition: attachment; filename*0*=windows-1251''%D1%F7; filename*1*=%E5%F2.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--AAA\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: x@y\r\nSubject: inner\r\n\r\ninner body\r\n--AAA--\r\nepilogue\r\n"
    ).encode("ascii"),
    (
        "From: MAILER-DAEMON@mx\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\n\r\n--R\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig@shop.ru>\r\n--R--\r\n"
    ).encode("ascii"),
    "From: a@b\r\nSubject: Ёж\r\nContent-Type: text/plain\r\n\r\n".encode() + "Привет".encode("cp1251"),
]

_HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID", "MIME-Version",
        "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "X-Autoreply", "Sender", "X-Junk",
    ]
)  # fmt: skip
_TOKENS = st.sampled_from(
    [
        "multipart/mixed; boundary=X", 'multipart/alternative; boundary="Y"', "multipart/report",
        "message/rfc822", "message/delivery-status", "text/plain; charset=koi8-r", "text/html; charset=x-bad",
        "text/plain; charset=utf-7", "text/plain; format=flowed; delsp=yes", "application/octet-stream",
        "base64", "quoted-printable", "8bit", "x-uuencode", "attachment; filename*=utf-8''%FF%FE",
        "attachment; filename*0*=koi8-r''%E9; filename*2=x", "inline; filename=\"=?utf-8?B?0J8=?=\"",
        "=?utf-8?B?0J/RgNC4?=", "=?windows-1251?Q?=CF=F0?=", "=?bogus?X?zz?=", "=?utf-8?B?@@@?=",
        "<a@b>", "<>", "<<>>", "\"Иван\" <i@m.ru>", "a@b, c@d,, ,", "(comment) <x@y> (more)",
        "Mon, 23 Nov 2026 12:00:00 +0300", "Mon, 32 Foo 99999 99:99 +9999", "\r\n --X\r\n", "--X", "--X--",
        "--Y", "\t", ";", "\"", "\\", "\x00", "\x1b$B", "\xff\xfe", "Ёжик",
    ]
)  # fmt: skip


@st.composite
def generated_messages(draw: st.DrawFn) -> bytes:
    headers = draw(
        st.lists(st.tuples(_HEADER_NAMES, st.lists(_TOKENS | st.text(max_size=12), max_size=4)), max_size=12)
    )
    lines = [f"{name}: {' '.join(values)}" for name, values in headers]
    body_parts = draw(st.lists(_TOKENS | st.text(max_size=40), max_size=20))
    text = "\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(body_parts)
    return text.encode("utf-8", errors="surrogateescape")


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        if not data:
            break
        pos = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if action == "flip":
            data[pos] = draw(st.integers(min_value=0, max_value=255))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(min_value=1, max_value=40))]
        elif action == "insert":
            data[pos:pos] = draw(
                st.binary(max_size=20) | st.sampled_from([b"\r\n", b"--AAA\r\n", b"=?", b"\r\n\r\n"])
            )
        elif action == "truncate":
            del data[pos:]
        else:
            end = min(len(data), pos + draw(st.integers(min_value=1, max_value=200)))
            data[end:end] = data[pos:end]
    return bytes(data)


def _parse_never_explodes(raw: bytes) -> None:
    reason: str | None = None
    try:
        parsed = parse_email(raw)
    except EmailParseError as exc:
        reason = exc.reason
    if reason is not None:
        assert reason in {"empty", "no_headers", "unparseable", "not_bytes"}
        return
    assert parsed.message_id
    assert parsed.date is None or parsed.date.utcoffset() is not None
    split_reply(parsed.text, sender_name=parsed.from_name)
    for attachment in parsed.attachments:
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    _parse_never_explodes(raw)


@FUZZ
@given(generated_messages())
def test_generated_messages(raw: bytes) -> None:
    _parse_never_explodes(raw)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seeds())
def test_mutated_real_messages(raw: bytes) -> None:
    _parse_never_explodes(raw)


@FUZZ
@given(st.text(max_size=3000))
def test_split_reply_never_raises(text: str) -> None:
    split = split_reply(text)
    assert isinstance(split.reply, str)
    assert isinstance(split.quoted, str)
