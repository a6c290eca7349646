"""Walking a parsed MIME tree: body texts, HTML, attachments, forwarded mails and DSN parts.

Only the part of the ``email.message.Message`` API shared by ``policy.default`` and ``compat32``
is used, so the caller can re-run the walk on a compat32 parse when the modern header parser
trips over broken input.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email.message import Message

from opora.channels.email.charset import decode_bytes, decode_header_text, header_str

# A mail bomb of nested parts must not eat the worker; real mail stays far below these.
MAX_PARTS = 1000
MAX_DEPTH = 12
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_TEXT_MESSAGE_ID = re.compile(r"^\s*Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_ACTION = re.compile(r"^\s*Action:\s*([a-z]+)", re.IGNORECASE | re.MULTILINE)


@dataclass
class RawAttachment:
    filename: str
    content_type: str
    content: bytes
    is_inline: bool
    content_id: str | None


@dataclass
class RawForward:
    message: Message
    raw: bytes
    filename: str | None = None


@dataclass
class Collected:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    # Text files shown inline (Apple Mail, Netscape): the body when there is no other text.
    inline_texts: list[str] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)
    forwards: list[RawForward] = field(default_factory=list)
    report_type: str | None = None
    has_dsn: bool = False
    dsn_actions: list[str] = field(default_factory=list)
    returned_headers: list[Message | str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts_seen: int = 0


def first_header(msg: Message, name: str) -> str | None:
    """Raw value of the first header called ``name``, repaired to clean text (no RFC 2047)."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return header_str(str(value))
    return None


def repair(value: str) -> str:
    """Undo surrogate escapes left by the parser for 8-bit bytes, then decode encoded words."""
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        try:
            value = decode_bytes(value.encode("utf-8", errors="surrogateescape"), None)
        except UnicodeEncodeError:  # a surrogate that is not an escaped byte: just drop it
            value = value.encode("utf-8", errors="replace").decode("utf-8")
    decoded = decode_header_text(value)
    # Control characters in a subject or name break logs and the UI and are never meaningful.
    return "".join(ch for ch in decoded if ch == "\t" or ch >= " ")


def message_id_token(value: str | None) -> str | None:
    """Normalise a Message-ID-like value: the first <token>, else the first bare word, no <>."""
    if not value:
        return None
    match = _MESSAGE_ID.search(value)
    if match:
        token = match.group(1)
    else:
        words = value.split()
        token = words[0].strip("<>") if words else ""
    return token[:998] or None


def message_id_tokens(value: str) -> list[str]:
    return _MESSAGE_ID.findall(value)


def _content_type(part: Message) -> str:
    ctype = part.get_content_type()
    return ctype.lower() if "/" in ctype else "application/octet-stream"


def _filename(part: Message) -> str | None:
    name = part.get_filename() or part.get_param("name")
    if isinstance(name, tuple):  # compat32 may hand back an undecoded RFC 2231 triple
        name = decode_bytes(name[2].encode("latin-1", errors="replace"), name[0])
    if not isinstance(name, str) or not name.strip():
        return None
    cleaned = repair(name.strip().strip('"'))
    # Only the last path component: a filename is never allowed to point into a directory.
    cleaned = re.split(r"[\\/]", cleaned)[-1]
    cleaned = _UNSAFE_FILENAME.sub("_", cleaned).strip(" .")
    return cleaned[:255] or None


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


def _decode_text(part: Message) -> str:
    data = _payload_bytes(part)
    charset = part.get_content_charset()
    text = decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")
    if str(part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return text


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join RFC 3676 soft line breaks so paragraphs and quotes read as the sender wrote them."""
    out: list[str] = []
    buffer = ""
    buffer_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        if buffer_depth not in (-1, depth):
            out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
            buffer = ""
        soft = body.endswith(" ") and body.rstrip() != "--"
        piece = body[:-1] if soft and delsp else body
        buffer += piece
        buffer_depth = depth
        if not soft:
            out.append(">" * depth + (" " if depth and buffer else "") + buffer)
            buffer, buffer_depth = "", -1
    if buffer_depth != -1:
        out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
    return "\n".join(out)


def _content_id(part: Message) -> str | None:
    return message_id_token(first_header(part, "content-id"))


def _guess_name(ctype: str, index: int) -> str:
    ext = mimetypes.guess_extension(ctype) or ".bin"
    return f"attachment-{index}{ext}"


def collect(msg: Message, *, in_report: bool = False) -> Collected:
    found = Collected()
    _walk(msg, found, depth=0, in_related=False, in_report=in_report)
    return found


def _walk(part: Message, found: Collected, *, depth: int, in_related: bool, in_report: bool) -> None:
    found.parts_seen += 1
    if found.parts_seen > MAX_PARTS or depth > MAX_DEPTH:
        if "too_many_parts" not in found.defects:
            found.defects.append("too_many_parts")
        return
    ctype = _content_type(part)
    if ctype == "multipart/report":
        found.report_type = str(part.get_param("report-type") or "unknown").lower()
        in_report = True
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list):
        blocks = [child for child in payload if isinstance(child, Message)]
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            _delivery_status(blocks, found)
            return
        if ctype in ("message/rfc822", "message/global"):
            if blocks:
                _forward(blocks[0], found, in_report=in_report, filename=_filename(part))
            return
        related = in_related or ctype == "multipart/related"
        for child in blocks:
            _walk(child, found, depth=depth + 1, in_related=related, in_report=in_report)
        return
    _leaf(part, ctype, found, in_related=in_related, in_report=in_report)


def _delivery_status(blocks: list[Message], found: Collected) -> None:
    found.has_dsn = True
    for block in blocks:
        action = first_header(block, "action")
        if action:
            found.dsn_actions.append(action.strip().lower())


def _forward(inner: Message, found: Collected, *, in_report: bool, filename: str | None) -> None:
    if in_report:
        found.returned_headers.append(inner)
        return
    try:
        raw = inner.as_bytes()
    except Exception:  # the generator refuses some broken headers; the text still matters more
        raw = str(inner.get_payload()).encode("utf-8", errors="replace")
    found.forwards.append(RawForward(message=inner, raw=raw, filename=filename))


def _leaf(part: Message, ctype: str, found: Collected, *, in_related: bool, in_report: bool) -> None:
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        text = decode_bytes(_payload_bytes(part), None)
        found.has_dsn = True
        found.dsn_actions.extend(a.lower() for a in _ACTION.findall(text))
        return
    if ctype in ("text/rfc822-headers", "message/rfc822-headers") or (
        in_report and ctype in ("message/rfc822", "message/global")
    ):
        found.returned_headers.append(decode_bytes(_payload_bytes(part), None))
        return
    if ctype in ("message/rfc822", "message/global"):
        # Declared message/rfc822 but not parsed as one (e.g. base64-encoded): keep it as a file.
        raw = _payload_bytes(part)
        found.attachments.append(
            RawAttachment(filename or "forwarded.eml", "message/rfc822", raw, False, _content_id(part))
        )
        return
    if ctype.startswith("multipart/"):
        # A multipart without a usable boundary: its raw payload is the best text we have.
        found.texts.append(_decode_text(part))
        return
    is_body_text = ctype in ("text/plain", "text/html") and not filename and disposition != "attachment"
    if is_body_text:
        (found.texts if ctype == "text/plain" else found.htmls).append(_decode_text(part))
        return
    if ctype == "text/plain" and disposition == "inline":
        found.inline_texts.append(_decode_text(part))
    content = _payload_bytes(part)
    content_id = _content_id(part)
    # In multipart/related every non-attachment part is a resource of the HTML (cid: or MHTML).
    inline = disposition == "inline" or (in_related and disposition != "attachment")
    name = filename or _guess_name(ctype, len(found.attachments) + 1)
    found.attachments.append(RawAttachment(name, ctype, content, inline, content_id))


def returned_message_id(found: Collected) -> str | None:
    """Message-ID of the mail that bounced, from the returned message or its headers."""
    for item in found.returned_headers:
        if isinstance(item, Message):
            token = message_id_token(first_header(item, "message-id"))
        else:
            match = _TEXT_MESSAGE_ID.search(item)
            token = match.group(1) if match else None
        if token:
            return token
    for text in found.texts:
        match = _TEXT_MESSAGE_ID.search(text)
        if match:
            return match.group(1)
    return None
