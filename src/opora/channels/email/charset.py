"""Turning bytes of unknown honesty into text, and RFC 2047 encoded words into text.

Russian mail still arrives as windows-1251 or KOI8-R, often with a missing or wrong charset
label (old 1C exports, shop CMS mailers, Outlook Express). Nothing here raises: the worst case
is text with U+FFFD in it, because losing a customer's message is worse than a few odd letters.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

# Labels seen in the wild that Python does not know, or knows under another name.
_ALIASES = {
    "win-1251": "cp1251",
    "win1251": "cp1251",
    "windows1251": "cp1251",
    "cp-1251": "cp1251",
    "x-cp1251": "cp1251",
    "x-mac-cyrillic": "mac_cyrillic",
    "koi8r": "koi8_r",
    "koi8": "koi8_r",
    "ks_c_5601-1987": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "default": "",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso8859_8",
    "gb2312": "gb18030",  # GB18030 is a superset; mailers label GBK text as GB2312
    "gbk": "gb18030",
}


def _canonical(name: str) -> str:
    return codecs.lookup(name).name


# Codecs to try for a label, in order: vendor supersets are what Outlook and co. really send.
# Keys are canonical codec names ("iso8859-1", "koi8-r"), as codec_name() returns them.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    _canonical(label): tuple(_canonical(c) for c in candidates)
    for label, candidates in {
        "ascii": ("ascii", "cp1252"),
        # Like browsers, read Latin-1 as its superset cp1252: the smart quotes are what was meant.
        "latin_1": ("cp1252", "latin_1"),
        "shift_jis": ("shift_jis", "cp932"),
        "iso2022_jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"),
        "euc_kr": ("euc_kr", "cp949"),
        "big5": ("big5", "big5hkscs", "cp950"),
        "koi8_r": ("koi8_r", "koi8_u"),
    }.items()
}
# The 8-bit Latin labels that mailers put on text of any encoding when they do not know better.
_LATIN_LABELS = {_canonical(n) for n in ("ascii", "latin_1", "iso8859_15", "cp1252", "iso8859_2")}
_SINGLE_BYTE = _LATIN_LABELS | {
    _canonical(n) for n in ("cp1251", "koi8_r", "koi8_u", "mac_cyrillic", "cp866", "iso8859_5", "cp1250")
}
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LOWER_CYRILLIC = re.compile(r"[\u0430-\u044f\u0451]")
# Mojibake of Russian decoded as Latin-1/cp1252 is dominated by letters from U+00C0-U+00FF.
_LATIN_HIGH = re.compile(r"[\u00c0-\u00ff]")


def codec_name(label: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if unusable."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    if not cleaned:
        return None
    try:
        name = codecs.lookup(cleaned).name
    except (LookupError, ValueError):
        return None
    # Codecs like 'rot13' or 'hex' are not text encodings; a hostile label must not reach them.
    return name if _is_text_codec(name) else None


def _is_text_codec(name: str) -> bool:
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return bool(getattr(info, "_is_text_encoding", True))


def _russian_score(text: str) -> int:
    """Higher is more like real Russian prose: Russian is mostly lower-case letters.

    KOI8-R text decoded as cp1251 (or the reverse) swaps the cases, so the count of lower-case
    Cyrillic letters tells the two apart reliably on anything longer than a word or two.
    """
    return len(_LOWER_CYRILLIC.findall(text))


def _looks_like_mojibake(text: str) -> bool:
    letters = sum(ch.isalpha() for ch in text)
    return letters > 0 and len(_LATIN_HIGH.findall(text)) / letters > 0.3


def _guess_single_byte(data: bytes) -> str:
    """Pick cp1251 or KOI8-R, whichever reads more like Russian."""
    best_text = data.decode("cp1251", errors="replace")
    best_score = _russian_score(best_text)
    koi = data.decode("koi8_r", errors="replace")
    if _russian_score(koi) > best_score:
        return koi
    return best_text


def _pick_single_byte(data: bytes) -> str:
    """Last resort for undeclared 8-bit text: Russian if it reads like Russian, else Latin-1."""
    guess = _guess_single_byte(data)
    letters = sum(ch.isalpha() for ch in guess)
    if letters and len(_CYRILLIC.findall(guess)) / letters >= 0.3:
        return guess
    return data.decode("latin-1", errors="replace")


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode a body or header chunk: declared charset, then UTF-8, then Cyrillic, then Latin-1."""
    codec = codec_name(declared)
    if data.isascii():
        # 7-bit data: the label only matters for 7-bit encodings such as ISO-2022-JP or UTF-7.
        if codec is not None:
            for candidate in _CANDIDATES.get(codec, (codec,)):
                try:
                    return data.decode(candidate)
                except (UnicodeDecodeError, ValueError):
                    continue
            # Vendor extensions (NEC's row 13 in ISO-2022-JP, say) cost one character, not the text.
            return data.decode(codec, errors="replace")
        return data.decode("ascii", errors="replace")
    try:
        as_utf8: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        as_utf8 = None
    # Valid multi-byte UTF-8 practically never happens by accident in single-byte text, so it
    # beats a single-byte label that the sending program put there by default.
    if as_utf8 is not None and (codec is None or codec in _SINGLE_BYTE):
        return as_utf8
    if codec is not None:
        for candidate in _CANDIDATES.get(codec, (codec,)):
            try:
                text = data.decode(candidate)
            except (UnicodeDecodeError, ValueError):
                continue
            if not (codec in _LATIN_LABELS and _looks_like_mojibake(text)):
                return text
            break
    if as_utf8 is not None:
        return as_utf8
    return _pick_single_byte(data)


_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?\s]*?)(?:\*[^?\s]*)?\?(?P<enc>[qQbB])\?(?P<text>[^?]*?)\?=",
)
_BETWEEN_WORDS = re.compile(r"\A[ \t\r\n]*\Z")


def _decode_word(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return text.encode("ascii", errors="replace")
    return quopri.decodestring(text.replace("_", " ").encode("ascii", errors="replace"), header=False)


def decode_header_text(value: str) -> str:
    """Decode RFC 2047 encoded words; raw 8-bit header bytes must already be text.

    Adjacent encoded words in one charset are joined as bytes before decoding, because some
    mailers cut a UTF-8 letter in half across two words.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(bytes(pending), pending_charset))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        # Whitespace between two encoded words is folding, not content (RFC 2047 section 6.2).
        if not (pending and _BETWEEN_WORDS.match(gap)):
            flush()
            out.append(gap)
        charset = match.group("charset") or None
        if pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(_decode_word(match.group("enc"), match.group("text")))
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def header_str(raw: str) -> str:
    """Turn a raw header value (surrogate-escaped 8-bit bytes possible) into clean text."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw)
    try:
        data = unfolded.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        data = unfolded.encode("utf-8", errors="replace")
    text = unfolded if data.isascii() else decode_bytes(data, None)
    # Control characters in a subject or name break logs and the UI and are never meaningful.
    return "".join(ch for ch in text if ch == "\t" or ch >= " ").strip()
