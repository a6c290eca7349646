"""``split_reply``: the customer's new words, apart from the quoted thread and the signature.

Agents must see what the customer wrote *this time*; the quoted history is already in the
ticket. The split is line-based: find where the quoted part starts (an attribution header,
an Outlook header block, a separator, or the trailing "> " block), then look for a signature
in what is left. mail-parser-reply contributes its multi-language header patterns; our own
patterns cover the Russian clients it does not know (Gmail, Yandex, Mail.ru, Outlook, Apple
Mail in Russian). When quoted blocks alternate with new text (an inline answer), the new text
below the quotes is kept together with the quotes it answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mailparser_reply import EmailMessage  # type: ignore[import-untyped]
from mailparser_reply.constants import MAIL_LANGUAGES  # type: ignore[import-untyped]

from opora.channels.email import quote_patterns as qp

# The library's languages besides English; 'david' is a vendor format, not a language.
_LIBRARY_LANGUAGES = [lang for lang in MAIL_LANGUAGES if lang not in ("en", "david")]
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\ufeff\u00ad]")
_QUOTE_PREFIX = re.compile(r"^(?:\s*>)+\s?")
_MAX_JOIN = 3  # attribution headers wrap over at most three lines in practice
_MAX_SIGNATURE_LINES = 15
_HEADER_MAX = 300  # longer lines are never attribution or header lines
_LIBRARY_MAX_LINES = 1000


@dataclass(frozen=True, slots=True)
class ReplySplit:
    reply: str
    quoted: str
    signature: str

    @property
    def visible(self) -> str:
        """What to show by default: the reply, or everything when the mail is only a quote/forward."""
        if self.reply.strip():
            return self.reply
        return "\n\n".join(p for p in (self.quoted, self.signature) if p)


def _clean(line: str) -> str:
    line = _INVISIBLE.sub("", line).replace("\u00a0", " ")
    return re.sub(r"\s+", " ", line).strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def split_reply(text: str, *, sender_name: str | None = None) -> ReplySplit:
    """Split a plain-text body into (reply, quoted, signature); never raises on text input.

    ``sender_name`` (the From display name or address) helps to find signatures that start with
    the sender's name and have no delimiter.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    clean = [_clean(line) for line in lines]
    start, end = _reply_bounds(lines, clean)
    sig = _signature_start(clean, start, end, sender_name)
    quoted = [p for p in (_join(lines[:start]), _join(lines[end:])) if p]
    return ReplySplit(
        reply=_join(lines[start:sig]),
        quoted="\n\n".join(quoted),
        signature=_join(lines[sig:end]),
    )


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")


# ---------------------------------------------------------------- where does the quote start


def _reply_bounds(lines: list[str], clean: list[str]) -> tuple[int, int]:
    """Line range [start, end) of the new text; everything outside it is quoted."""
    header = _first_header(clean)
    # The library can only matter if it finds something above our own first header.
    library = _library_header(clean[: header[0]] if header else clean)
    if library is not None and (header is None or library < header[0]):
        header = (library, "wrote" if _attribution_at(clean, library) else "block")
    if header is not None and header[1] == "block":
        return 0, _extend_over_rules(clean, header[0])
    start = header[0] if header else _first_quoted(lines)
    if start is None:
        return 0, len(lines)
    inline = _inline_reply(lines, clean, start)
    if inline is not None:
        first, end, single_block = inline
        # Bottom-posting: nothing above the quote and one quote block, so the reply is below it.
        if single_block and not any(clean[:start]):
            return first, end
        return 0, end
    if header is None:
        start = _attribution_above(clean, start)
    return 0, start


def _first_header(clean: list[str]) -> tuple[int, str] | None:
    for i, line in enumerate(clean):
        if not line:
            continue
        body = _QUOTE_PREFIX.sub("", line)
        if len(body) < 80 and qp.SEPARATOR_LINE.match(body):
            return i, "block"
        if _header_block_at(clean, i):
            # Blocks may open with "Subject:" or "To:" (Hotmail); include those lines too.
            while i > 0 and qp.header_category(_QUOTE_PREFIX.sub("", clean[i - 1])):
                i -= 1
            return i, "block"
        if _attribution_at(clean, i):
            return i, "wrote"
    return None


def _attribution_at(clean: list[str], i: int) -> bool:
    """Does an attribution ("On ... wrote:") start at line i, possibly wrapped over 3 lines?"""
    first = _QUOTE_PREFIX.sub("", clean[i])
    if not first or len(first) > 300:
        return False
    joined = first
    for j in range(i, min(i + _MAX_JOIN, len(clean))):
        if j > i:
            if not clean[j]:
                return False
            joined += " " + _QUOTE_PREFIX.sub("", clean[j])
        # A wrapped header must start like one, so a sentence above it is not swallowed.
        if j > i and not qp.HEADER_OPENER.match(first):
            return False
        if _is_attribution(joined):
            return True
    return False


def _is_attribution(line: str) -> bool:
    if len(line) > 400:
        return False
    if qp.ends_with_wrote(line):
        # "wrote" counts only next to a date or an address, so "as I wrote:" stays text.
        return bool(qp.DATEISH.search(line) or qp.HAS_ADDRESS.search(line))
    if "@" in line and line.endswith(":") and qp.ADDRESS_COLON_LINE.match(line):
        return bool(qp.DATEISH.search(line))
    return False


def _header_block_at(clean: list[str], i: int) -> bool:
    """An Outlook-style block: two header lines of different kinds, one wrapped line allowed."""
    first = _QUOTE_PREFIX.sub("", clean[i])
    category = qp.header_category(first)
    if category not in ("from", "date"):
        return False
    seen = {category}
    gaps = 0
    block = [first]
    for j in range(i + 1, min(i + 8, len(clean))):
        body = _QUOTE_PREFIX.sub("", clean[j])
        if not body:
            break
        block.append(body)
        other = qp.header_category(body)
        if other is None:
            gaps += 1
            if gaps > 1:
                break
            continue
        seen.add(other)
    # Real blocks name a date or an address; "От: курьера ничего.\nТема: ..." in prose does not.
    joined = " ".join(block)
    return len(seen) >= 2 and bool(qp.DATEISH.search(joined) or qp.HAS_ADDRESS.search(joined))


def _extend_over_rules(clean: list[str], start: int) -> int:
    """Include rule lines ("_____", "-----") and blanks just above a header block in the quote."""
    i = start
    while i > 0 and (not clean[i - 1] or qp.RULE_LINE.match(clean[i - 1])):
        i -= 1
    while i < start and not clean[i]:
        i += 1
    return i


def _first_quoted(lines: list[str]) -> int | None:
    return next((i for i, line in enumerate(lines) if _is_quoted(line)), None)


def _attribution_above(clean: list[str], start: int) -> int:
    """A one-line paragraph right above a "> " block that names a date or address is its header."""
    above = start - 1
    if above < 0 or not clean[above]:
        return start
    if above > 0 and clean[above - 1]:
        return start
    line = clean[above]
    if len(line) < 250 and (qp.HAS_ADDRESS.search(line) or qp.DATEISH.search(line)) and line[-1:] in ":>-":
        return above
    if qp.HEADER_OPENER.match(line) and qp.HAS_ADDRESS.search(line):
        return above
    return start


def _inline_reply(lines: list[str], clean: list[str], start: int) -> tuple[int, int, bool] | None:
    """New text after quoted lines (an inline or bottom answer).

    Returns (first new line, index after the last new line, whether the quote before it was a
    single block with no quotes between the new lines), or None when nothing follows the quotes.
    """
    seen_quote = False
    wrapped = False
    first: int | None = None
    last: int | None = None
    quotes_between = False
    for i in range(start, len(lines)):
        if _is_quoted(lines[i]):
            seen_quote = True
            quotes_between = quotes_between or first is not None
            # Clients wrap long quoted lines without repeating ">"; such tails are still quote.
            wrapped = len(clean[i]) >= 60
            continue
        line = clean[i]
        if not line:
            wrapped = False
            continue
        if wrapped or i == start:
            continue
        if qp.SIGNATURE_DELIMITER.match(line) or qp.MOBILE_FOOTER.match(line):
            break
        if _first_header(clean[i : i + 1]) is not None or _attribution_at(clean, i):
            continue
        if seen_quote:
            first = i if first is None else first
            last = i
    if first is None or last is None:
        return None
    return first, last + 1, not quotes_between


@lru_cache(maxsize=1)
def _library_regex() -> Any:
    return EmailMessage(text="", languages=list(_LIBRARY_LANGUAGES)).HEADER_REGEX


def _library_header(clean: list[str]) -> int | None:
    """Earliest header that mail-parser-reply's multi-language patterns find, as a line index.

    Its patterns backtrack badly on long lines (minutes on one 100 KB line), so it only sees
    lines that could belong to a header (a digit, "@" or ":"), cut to header length, and only
    the first lines of the mail; our own patterns still scan everything.
    """
    text = "\n".join(
        line[:_HEADER_MAX] if any(ch.isdigit() or ch in "@:" for ch in line) else ""
        for line in clean[:_LIBRARY_MAX_LINES]
    )
    for match in _library_regex().finditer(text):
        pos = match.start()
        while pos < len(text) and text[pos] == "\n":
            pos += 1
        line = text.count("\n", 0, pos)
        body = _QUOTE_PREFIX.sub("", clean[line]) if line < len(clean) else ""
        # Guard against its looser patterns: a header names a date or an address.
        if body and (qp.DATEISH.search(match.group(0)) or qp.HAS_ADDRESS.search(match.group(0))):
            return line
    return None


# ---------------------------------------------------------------- where does the signature start


def _signature_start(clean: list[str], start: int, end: int, sender_name: str | None) -> int:
    content = [i for i in range(start, end) if clean[i]]
    if len(content) < 2:
        return end
    names = _name_variants(sender_name)
    # Only the tail can be a signature, and never the first line: a reply is never all signature.
    for i in content[1:][-_MAX_SIGNATURE_LINES:]:
        line = clean[i]
        after = [j for j in content if j > i]
        if qp.SIGNATURE_DELIMITER.match(line) or qp.MOBILE_FOOTER.match(line):
            return i
        short_after = len(after) <= 8 and all(len(clean[j]) <= 80 for j in after)
        sign_off = qp.SIGN_OFF.match(line) if len(line) <= 80 else None
        if sign_off and ((after and short_after) or (not after and sign_off.group("name"))):
            return i
        if not names:
            continue
        if len(after) <= 6 and short_after and _names_line(line, names):
            return i
        # A rule line with the sender's name just below it ("------ / Logo / Ivan Petrov").
        if (
            len(line) <= 200
            and qp.RULE_LINE.match(line)
            and any(_mentions(clean[j], names) for j in after[:3])
        ):
            return i
    return end


def _name_variants(sender_name: str | None) -> list[str]:
    if not sender_name:
        return []
    name = sender_name.strip().split("@", 1)[0].replace(".", " ").strip()
    parts = [p for p in re.split(r"[\s,]+", name) if len(p) >= 2]
    variants = [name.lower()] + [p.lower() for p in parts]
    return [v for v in dict.fromkeys(variants) if v]


def _mentions(line: str, names: list[str]) -> bool:
    words = set(re.findall(r"\w+", line.lower()))
    return any(all(part in words for part in name.split()) for name in names)


def _names_line(line: str, names: list[str]) -> bool:
    lowered = line.lower().strip(" -–—,.")
    if len(lowered) > 60:
        return False
    return any(lowered == n or lowered.startswith(n + " ") or lowered.startswith(n + ",") for n in names)
