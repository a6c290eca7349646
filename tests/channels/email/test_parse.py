"""parse_email on generated mail: Russian charsets, headers, HTML, attachments, loops and bounces."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import quote

import pytest

from opora.channels.email import EmailParseError, parse_email, sanitize_html

BODY_RU = "Здравствуйте! Заказ 1234 не пришёл. Верните, пожалуйста, деньги. Ёлка, щука, эхо."
SUBJECT_RU = "Где мой заказ? Ёжик в тумане"
NAME_RU = "Иван Петров"
FILENAME_RU = "Счёт на оплату 5.pdf"


def _b64_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def _q_word(text: str, charset: str) -> str:
    encoded = "".join(
        "_" if b == 0x20 else chr(b) if chr(b).isalnum() and b < 0x80 else f"={b:02X}"
        for b in text.encode(charset)
    )
    return f"=?{charset}?Q?{encoded}?="


def _mail(
    body: bytes,
    *,
    content_type: str = "text/plain; charset=windows-1251",
    headers: str = "",
    subject: str = "Test",
) -> bytes:
    head = (
        "From: customer@example.ru\r\nTo: support@shop.ru\r\n"
        f"Subject: {subject}\r\nMessage-ID: <m1@example.ru>\r\n"
        "Date: Mon, 23 Nov 2026 12:00:00 +0300\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n{headers}\r\n"
    )
    return head.encode("ascii") + body


@pytest.mark.parametrize("charset", ["windows-1251", "koi8-r"])
def test_russian_charsets_decode_body_subject_name_and_filename(charset: str) -> None:
    boundary = "XYZ"
    filename_param = f"filename*={charset}''{quote(FILENAME_RU.encode(charset))}"
    raw = (
        f"From: {_q_word(NAME_RU, charset)} <ivan@mail.ru>\r\n"
        "To: support@shop.ru\r\n"
        f"Subject: {_b64_word(SUBJECT_RU[:10], charset)}\r\n {_b64_word(SUBJECT_RU[10:], charset)}\r\n"
        "Message-ID: <ru-1@mail.ru>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii")
    raw += BODY_RU.encode(charset) + b"\r\n"
    raw += (
        f"--{boundary}\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: attachment; {filename_param}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")

    parsed = parse_email(raw)

    assert parsed.text.strip() == BODY_RU
    assert parsed.subject == SUBJECT_RU
    assert parsed.from_name == NAME_RU
    assert parsed.from_email == "ivan@mail.ru"
    [attachment] = parsed.attachments
    assert attachment.filename == FILENAME_RU
    assert attachment.content == b"%PDF-1.4\n"
    assert not attachment.is_inline


def test_rfc2231_continuations_and_rfc2047_filenames() -> None:
    first, second = FILENAME_RU[:6], FILENAME_RU[6:]
    raw = (
        'From: a@b.ru\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nсм. вложения\r\n"
        "--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
        f" filename*0*=windows-1251''{quote(first.encode('cp1251'))};\r\n"
        f" filename*1*={quote(second.encode('cp1251'))}\r\n\r\nJVBERg==\r\n"
        "--B\r\nContent-Type: application/octet-stream;\r\n"
        f' name="{_b64_word("Акт сверки.xlsx", "koi8-r")}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--B--\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert [a.filename for a in parsed.attachments] == [FILENAME_RU, "Акт сверки.xlsx"]
    assert parsed.text.strip() == "см. вложения"


@pytest.mark.parametrize(
    ("declared", "encoding"),
    [
        ("iso-8859-1", "cp1251"),  # the classic: a Latin-1 default on Russian text
        ("us-ascii", "cp1251"),
        ("utf-8", "cp1251"),
        ("windows-1251", "utf-8"),
        ("utf-8", "koi8-r"),
        ("x-unknown-charset", "cp1251"),
    ],
)
def test_wrong_declared_charset_still_reads(declared: str, encoding: str) -> None:
    parsed = parse_email(_mail(BODY_RU.encode(encoding), content_type=f"text/plain; charset={declared}"))
    assert parsed.text.strip() == BODY_RU


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-8"])
def test_missing_charset_and_raw_8bit_headers(encoding: str) -> None:
    # Old mailers put raw 8-bit bytes into Subject instead of RFC 2047 words.
    raw = _mail(BODY_RU.encode(encoding), content_type="text/plain", subject="X").replace(
        b"Subject: X", b"Subject: " + SUBJECT_RU.encode(encoding)
    )
    parsed = parse_email(raw)
    assert parsed.text.strip() == BODY_RU
    assert parsed.subject == SUBJECT_RU


def test_latin1_text_stays_latin1() -> None:
    text = "Bonjour, je n'ai pas reçu ma commande. Merci d'avance, Hélène"
    parsed = parse_email(_mail(text.encode("latin-1"), content_type="text/plain"))
    assert parsed.text.strip() == text


def test_headers_ids_dates_and_addresses() -> None:
    raw = (
        'From: "Петров, Иван" <Ivan.Petrov@Mail.RU>\r\n'
        "To: support@shop.ru, =?utf-8?B?0JDQvdC90LA=?= <anna@ya.ru>\r\n"
        "Cc: boss@shop.ru\r\nReply-To: ivan+orders@mail.ru\r\n"
        "Subject: =?utf-8?Q?=D0=9F=D1=80=D0=B8=D0=B2=D0=B5=D1=82?= world\r\n"
        "Message-ID:   <abc.123@mail.ru> (generated)\r\n"
        "In-Reply-To: Your message of Monday <parent@shop.ru>\r\n"
        "References: <root@shop.ru>\r\n <parent@shop.ru> <parent@shop.ru>\r\n"
        "Date: Mon, 23 Nov 2026 12:00:00 +0300\r\n\r\nhi\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.message_id == "abc.123@mail.ru"
    assert not parsed.message_id_synthesised
    assert parsed.in_reply_to == "parent@shop.ru"
    assert parsed.references == ("root@shop.ru", "parent@shop.ru")
    assert parsed.thread_ids == ("parent@shop.ru", "root@shop.ru")
    assert parsed.subject == "Привет world"
    assert parsed.from_name == "Петров, Иван"
    assert parsed.from_email == "ivan.petrov@mail.ru"
    assert [(a.email, a.name) for a in parsed.to] == [("support@shop.ru", ""), ("anna@ya.ru", "Анна")]
    assert [a.email for a in parsed.cc] == ["boss@shop.ru"]
    assert [a.email for a in parsed.reply_to] == ["ivan+orders@mail.ru"]
    assert parsed.date == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 23 Nov 2026 12:00:00 -0000", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("23 Nov 2026 12:00 GMT", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("вчера вечером", None),
        ("Mon, 99 Foo 20262 99:99:99 +9999", None),
    ],
)
def test_dates_are_utc_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse_email(f"From: a@b.c\r\nDate: {value}\r\n\r\nx".encode())
    assert parsed.date == expected
    assert parsed.date is None or parsed.date.tzinfo is UTC


def test_missing_message_id_is_synthesised_stably() -> None:
    raw = b"From: a@b.c\r\nSubject: no id\r\n\r\nbody"
    first, again = parse_email(raw), parse_email(raw)
    other = parse_email(raw + b"!")
    assert first.message_id_synthesised
    assert first.message_id == again.message_id
    assert first.message_id != other.message_id
    assert first.message_id.endswith("@synthesised.opora.invalid")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\r\n\t", "empty"),
        (b"just some words\nwithout any header\n", "no_headers"),
    ],
)
def test_hard_failures_raise_email_parse_error(raw: bytes, reason: str) -> None:
    with pytest.raises(EmailParseError) as info:
        parse_email(raw)
    assert info.value.reason == reason


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(EmailParseError) as info:
        parse_email("From: a@b.c\r\n\r\nhi")  # type: ignore[arg-type]
    assert info.value.reason == "not_bytes"


HOSTILE_HTML = (
    "<html><head><title>t</title><style>body{}</style><script>alert(1)</script></head><body>"
    '<p onclick="steal()" onmouseover="x()" style="color:red;position:fixed;background:url(https://t.example/p)">'
    'Привет</p><a href="javascript:alert(1)">click</a><a href="JaVaScRiPt:alert(2)">again</a>'
    '<img src="cid:logo@shop.ru" onerror="alert(3)"><img src="https://shop.ru/logo.png">'
    '<iframe src="https://evil.example"></iframe><svg onload="alert(4)"></svg>'
    '<form action="https://evil.example"><input name="card"></form><a href="https://shop.ru">ok</a>'
    "</body></html>"
)


def test_html_sanitising_removes_scripts_handlers_and_javascript_urls() -> None:
    cleaned = sanitize_html(HOSTILE_HTML).lower()
    for bad in ("<script", "alert", "onclick", "onmouseover", "onerror", "onload", "javascript:", "<iframe"):
        assert bad not in cleaned
    for bad in ("<form", "<input", "position", "url(", "<title", "body{}"):
        assert bad not in cleaned
    assert 'src="cid:logo@shop.ru"' in cleaned
    assert 'href="https://shop.ru"' in cleaned
    assert "color:red" in cleaned
    assert "привет" in cleaned


def test_html_only_mail_gets_text_from_html_with_quote_markers() -> None:
    html = "<div>Спасибо, получил!</div><blockquote><div>Ваш заказ отправлен</div></blockquote><script>x()</script>"
    parsed = parse_email(_mail(html.encode(), content_type="text/html; charset=utf-8"))
    assert parsed.text_from_html
    assert parsed.text.splitlines()[0] == "Спасибо, получил!"
    assert "> Ваш заказ отправлен" in parsed.text
    assert parsed.html is not None
    assert "<script" not in parsed.html
    assert "x()" not in parsed.html


def test_inline_images_keep_their_content_id() -> None:
    msg = EmailMessage()
    msg["From"] = "shop@example.ru"
    msg["Subject"] = "logo"
    msg.set_content("text")
    msg.add_alternative('<p>Hi <img src="cid:logo123@x"></p>', subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo123@x>")
    parsed = parse_email(bytes(msg))
    [image] = parsed.attachments
    assert image.is_inline
    assert image.content_id == "logo123@x"
    assert image.content_type == "image/png"
    assert parsed.html is not None
    assert "cid:logo123@x" in parsed.html


def test_forwarded_message_text_is_included_and_attached() -> None:
    inner = EmailMessage()
    inner["From"] = "Служба доставки <delivery@cdek.example>"
    inner["Subject"] = "Посылка задерживается"
    inner["Message-ID"] = "<inner@cdek.example>"
    inner.set_content("Посылка 42 задерживается на складе.")
    outer = EmailMessage()
    outer["From"] = "customer@mail.ru"
    outer["Subject"] = "Fwd: Посылка задерживается"
    outer.set_content("Что это значит?")
    outer.add_attachment(inner)
    parsed = parse_email(bytes(outer))
    assert parsed.text.startswith("Что это значит?")
    assert "Посылка 42 задерживается на складе." in parsed.text
    [forward] = parsed.forwarded
    assert forward.message_id == "inner@cdek.example"
    assert forward.from_address is not None
    assert forward.from_address.email == "delivery@cdek.example"
    [eml] = parsed.attachments
    assert eml.content_type == "message/rfc822"
    assert eml.filename.endswith(".eml")
    assert parse_email(eml.content).subject == "Посылка задерживается"


@pytest.mark.parametrize(
    ("headers", "auto", "bulk"),
    [
        ("", False, False),
        ("Auto-Submitted: no\r\n", False, False),
        ("Auto-Submitted: auto-replied\r\n", True, False),
        ("Auto-Submitted: auto-generated; owner-email=x@y\r\n", True, False),
        ("Precedence: bulk\r\n", False, True),
        ("Precedence: junk\r\n", False, True),
        ("Precedence: list\r\n", False, True),
        ("Precedence: auto_reply\r\n", True, False),
        ("List-Id: <news.shop.ru>\r\n", False, True),
        ("List-Unsubscribe: <mailto:unsub@shop.ru>\r\n", False, True),
        ("X-Autoreply: yes\r\n", True, False),
        ("X-Autorespond: 1\r\n", True, False),
        ("X-Auto-Response-Suppress: All\r\n", True, False),
        ("Return-Path: <>\r\n", True, False),
    ],
)
def test_loop_protection_headers(headers: str, auto: bool, bulk: bool) -> None:
    parsed = parse_email(_mail(b"hi", content_type="text/plain", headers=headers))
    assert parsed.is_auto_reply is auto
    assert parsed.is_bulk is bulk
    assert parsed.may_auto_reply is not (auto or bulk)


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.shop.ru", "postmaster@mail.ru"])
def test_daemon_senders_are_never_auto_answered(sender: str) -> None:
    raw = _mail(b"hi", content_type="text/plain").replace(
        b"From: customer@example.ru", f"From: {sender}".encode()
    )
    parsed = parse_email(raw)
    assert parsed.is_auto_reply
    assert not parsed.may_auto_reply


def test_russian_autoresponder_subject_is_auto() -> None:
    parsed = parse_email(
        _mail(b"x", content_type="text/plain", subject=_b64_word("Автоответ: в отпуске", "utf-8"))
    )
    assert parsed.is_auto_reply


def _dsn(action: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.shop.ru>\r\nTo: support@shop.ru\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.shop.ru\r\n\r\n"
        f"Final-Recipient: rfc822; nobody@mail.ru\r\nAction: {action}\r\nStatus: 5.1.1\r\n\r\n"
        "--R\r\nContent-Type: message/rfc822\r\n\r\nFrom: support@shop.ru\r\nTo: nobody@mail.ru\r\n"
        "Message-ID: <opora.42@shop.ru>\r\nSubject: Re: [#42] hi\r\n\r\nanswer\r\n--R--\r\n"
    ).encode()


def test_failed_dsn_is_a_bounce_with_the_original_message_id() -> None:
    parsed = parse_email(_dsn("failed"))
    assert parsed.is_bounce
    assert parsed.report_type == "delivery-status"
    assert parsed.bounced_message_id == "opora.42@shop.ru"
    assert not parsed.may_auto_reply
    assert "answer" not in parsed.text  # the returned mail is not the customer's text


def test_delay_notice_is_automatic_but_not_a_bounce() -> None:
    parsed = parse_email(_dsn("delayed"))
    assert not parsed.is_bounce
    assert parsed.is_auto_reply


def test_unstructured_bounce_from_mailer_daemon() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: failure notice\r\n\r\n"
        b"Sorry, we were unable to deliver your message.\r\n\r\n--- Below this line is a copy.\r\n"
        b"Message-ID: <opora.7@shop.ru>\r\nSubject: hi\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.is_bounce
    assert parsed.bounced_message_id == "opora.7@shop.ru"


def test_read_receipt_is_automatic_not_a_bounce() -> None:
    raw = (
        b"From: ivan@mail.ru\r\nSubject: Read: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nread\r\n--R\r\n"
        b"Content-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"
        b"--R--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.report_type == "disposition-notification"
    assert parsed.is_auto_reply
    assert not parsed.is_bounce


def test_broken_folding_is_repaired() -> None:
    raw = b"Received: from a\r\nby b with SMTP\r\nSubject: still here\r\nFrom: a@b.ru\r\n\r\nbody\r\n"
    parsed = parse_email(raw)
    assert parsed.subject == "still here"
    assert parsed.text.strip() == "body"


def test_absurd_nesting_keeps_headers_and_raw_body() -> None:
    # Deep enough to exhaust the stdlib parser's recursion; the mail must still come through.
    depth = 1200
    raw = b"From: a@b.ru\r\nSubject: nest\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    raw += b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth)
    )
    raw += b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % depth
    parsed = parse_email(raw)
    assert parsed.subject == "nest"
    assert parsed.from_email == "a@b.ru"
    assert "parsed_headers_only" in parsed.defects
    assert "deep" in parsed.text
