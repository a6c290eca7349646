"""``parse_email``: raw RFC 5322 bytes in, a ``ParsedEmail`` out, never an unexpected exception.

Inbound mail is stored raw before it is parsed (invariant 1), so this function is pure: the same
bytes always give the same result, including the synthesised Message-ID when one is missing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from opora.channels.email import loops
from opora.channels.email.html import html_to_text
from opora.channels.email.mime import (
    Collected,
    RawForward,
    collect,
    first_header,
    message_id_token,
    message_id_tokens,
    repair,
    returned_message_id,
)
from opora.channels.email.models import (
    Address,
    Attachment,
    EmailParseError,
    ForwardedEmail,
    LoopHeaders,
    ParsedEmail,
)
from opora.kit.html import sanitize_html

SYNTHETIC_ID_DOMAIN = "synthesised.opora.invalid"
MAX_REFERENCES = 100
_LEADING_JUNK = b"\xef\xbb\xbf\r\n\t "
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_ATTEMPTS = (
    ("default", policy.default, False),
    ("compat32", policy.compat32, False),
    ("headers_only", policy.compat32, True),
)


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one message; raise ``EmailParseError`` only when there is not even a header."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailParseError("not_bytes", type(raw).__name__)
    data = bytes(raw)
    body = _repair_folding(data.lstrip(_LEADING_JUNK))  # BOMs and blank lines come with exports
    if not body.strip():
        raise EmailParseError("empty", "no bytes besides whitespace")
    attempts: list[str] = []
    # Modern parsing first; compat32 when its header parser crashes; headers only (the body kept
    # as raw text) when the structure itself defeats the stdlib, e.g. thousands of nested parts.
    for name, mail_policy, headers_only in _ATTEMPTS:
        try:
            msg = BytesParser(policy=mail_policy).parsebytes(body, headersonly=headers_only)
            if not list(msg.raw_items()):
                raise EmailParseError("no_headers", "the data does not start with a mail header")
            return _build(msg, data, fallback=name)
        except EmailParseError:
            raise
        except Exception as exc:  # known stdlib crashes on hostile input; the next attempt is simpler
            attempts.append(f"{name}: {type(exc).__name__}: {exc}")
    raise EmailParseError("unparseable", "; ".join(attempts))


def _repair_folding(data: bytes) -> bytes:
    """Indent header continuation lines that lost their leading whitespace.

    Some gateways (news-to-mail, old qmail setups) unfold badly; the stdlib then ends the header
    block early and Subject, From and Content-Type end up in the body.
    """
    end = _HEADER_END.search(data)
    head, rest = (data[: end.start()], data[end.start() :]) if end else (data, b"")
    lines = head.split(b"\n")
    header_rows = [i for i, line in enumerate(lines) if _HEADER_LINE.match(line)]
    if not header_rows or len(header_rows) == len(lines):
        return data
    last = header_rows[-1]
    fixed = [
        b" " + line
        if 0 < i < last and line.strip() and line[:1] not in b" \t" and not _HEADER_LINE.match(line)
        else line
        for i, line in enumerate(lines)
    ]
    return b"\n".join(fixed) + rest


def _build(msg: Message, data: bytes, *, fallback: str) -> ParsedEmail:
    found = collect(msg)
    defects = [type(d).__name__ for d in getattr(msg, "defects", [])] + found.defects
    if fallback != "default":
        defects.append(f"parsed_{fallback}")
    subject = repair(first_header(msg, "subject") or "")
    senders = _addresses(first_header(msg, "from")) or _addresses(first_header(msg, "sender"))
    from_address = senders[0] if senders else None
    message_id = message_id_token(first_header(msg, "message-id"))
    loop_headers = _loop_headers(msg)
    forwarded = tuple(_forwarded(f) for f in found.forwards)

    text = _join(found.texts) or ("" if found.htmls else _join(found.inline_texts))
    html_source = "\n".join(found.htmls)
    text_from_html = False
    if not text.strip() and html_source.strip():
        text, text_from_html = html_to_text(html_source), True
    for fwd in forwarded:
        text = (text + "\n\n" if text else "") + _forward_block(fwd)

    attachments = [
        Attachment(a.filename, a.content_type, a.content, a.is_inline, a.content_id)
        for a in found.attachments
    ]
    attachments.extend(
        _forward_attachment(f, fwd, i)
        for i, (f, fwd) in enumerate(zip(found.forwards, forwarded, strict=True))
    )

    report_type = found.report_type
    if found.has_dsn and report_type in (None, "unknown"):
        report_type = "delivery-status"
    from_email = from_address.email if from_address else None
    if report_type == "delivery-status":
        # Delay and success notices are DSNs too, but only a failure means the mail did not arrive.
        settled = ("delayed", "delivered", "relayed", "expanded")
        is_bounce = not found.dsn_actions or any(a not in settled for a in found.dsn_actions)
    else:
        is_bounce = loops.looks_like_bounce(from_email, subject, loop_headers.x_failed_recipients)
    return ParsedEmail(
        message_id=message_id or _synthetic_id(data),
        message_id_synthesised=message_id is None,
        in_reply_to=message_id_token(first_header(msg, "in-reply-to")),
        references=_references(first_header(msg, "references")),
        subject=subject,
        from_address=from_address,
        to=tuple(_addresses(first_header(msg, "to"))),
        cc=tuple(_addresses(first_header(msg, "cc"))),
        reply_to=tuple(_addresses(first_header(msg, "reply-to"))),
        date=_date(first_header(msg, "date")),
        text=text,
        html=sanitize_html(html_source) if html_source.strip() else None,
        text_from_html=text_from_html,
        attachments=tuple(attachments),
        forwarded=forwarded,
        loop_headers=loop_headers,
        report_type=report_type,
        is_bounce=is_bounce,
        bounced_message_id=returned_message_id(found) if is_bounce else None,
        defects=tuple(dict.fromkeys(defects)),
    )


def _join(texts: list[str]) -> str:
    return "\n\n".join(t.strip("\n") for t in texts if t.strip())


def _synthetic_id(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}@{SYNTHETIC_ID_DOMAIN}"


def _references(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = message_id_tokens(value) if "<" in value else value.replace(",", " ").split()
    # Keep the newest ones when a thread is absurdly long; threading only needs the tail.
    return tuple(dict.fromkeys(i[:998] for i in ids if i))[-MAX_REFERENCES:]


def _addresses(value: str | None) -> list[Address]:
    if not value:
        return []
    pairs = _getaddresses(value)
    # Some mailers encode the whole "Name <addr>" as one encoded word; decode first, then split.
    if "=?" in value and not any("@" in addr and "=?" not in addr for _, addr in pairs):
        pairs = _getaddresses(repair(value))
    out: list[Address] = []
    for name, addr in pairs:
        email = repair(addr).strip().strip("<>").strip().lower()
        if not email:
            continue
        display = _unquote(repair(name).strip())
        out.append(Address(email=email[:320], name=display[:200]))
    return out


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def _getaddresses(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except Exception:  # older getaddresses variants raise on some unbalanced quotes
        return [("", part.strip()) for part in value.split(",") if "@" in part]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000" means "UTC, origin unknown" (RFC 5322 section 3.3)
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _loop_headers(msg: Message) -> LoopHeaders:
    def get(name: str) -> str | None:
        value = first_header(msg, name)
        return repair(value)[:500] if value is not None else None

    return_path = get("return-path")
    if return_path is not None:
        return_path = return_path.strip().strip("<>").strip()
    return LoopHeaders(
        auto_submitted=get("auto-submitted"),
        precedence=get("precedence"),
        list_id=get("list-id"),
        list_unsubscribe=get("list-unsubscribe"),
        x_autoreply=get("x-autoreply"),
        x_autorespond=get("x-autorespond"),
        x_auto_response_suppress=get("x-auto-response-suppress"),
        x_failed_recipients=get("x-failed-recipients"),
        return_path=return_path,
    )


def _forwarded(fwd: RawForward) -> ForwardedEmail:
    inner = fwd.message
    found: Collected = collect(inner)
    text = _join(found.texts) or _join(found.inline_texts)
    if not text.strip() and found.htmls:
        text = html_to_text("\n".join(found.htmls))
    senders = _addresses(first_header(inner, "from"))
    return ForwardedEmail(
        subject=repair(first_header(inner, "subject") or ""),
        from_address=senders[0] if senders else None,
        date=_date(first_header(inner, "date")),
        message_id=message_id_token(first_header(inner, "message-id")),
        text=text,
    )


def _forward_block(fwd: ForwardedEmail) -> str:
    # The same shape Gmail uses, so quote splitting treats the forwarded text as quoted.
    lines = ["---------- Forwarded message ----------"]
    if fwd.from_address:
        lines.append(f"From: {fwd.from_address}")
    if fwd.date:
        lines.append(f"Date: {fwd.date.isoformat()}")
    lines.append(f"Subject: {fwd.subject}")
    return "\n".join(lines) + "\n\n" + fwd.text


def _forward_attachment(raw: RawForward, fwd: ForwardedEmail, index: int) -> Attachment:
    stem = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in fwd.subject).strip()[:100]
    name = raw.filename or f"{stem or f'forwarded-{index + 1}'}.eml"
    return Attachment(filename=name, content_type="message/rfc822", content=raw.raw, is_inline=False)
