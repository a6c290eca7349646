"""HTML from mail flattened to text for the thread (sanitising for display is opora.kit.html)."""

from __future__ import annotations

import html as html_lib
import re

from inscriptis import get_annotated_text  # type: ignore[import-untyped]
from inscriptis.css_profiles import CSS_PROFILES  # type: ignore[import-untyped]
from inscriptis.model.config import ParserConfig  # type: ignore[import-untyped]

# The strict profile does not indent <div>s (mail nests them deeply); blockquotes are annotated so
# the text can carry "> " markers like a plain-text client would write them.
_TEXT_CONFIG = ParserConfig(
    css=CSS_PROFILES["strict"],
    display_links=False,
    display_images=False,
    annotation_rules={"blockquote": ["quote"]},
)
_HR = re.compile(r"<hr\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BLOCK_BREAK = re.compile(r"(?i)<\s*(?:br|/p|/div|/tr|/li|/h\d)\b[^>]*>")
_MANY_BLANKS = re.compile(r"\n{3,}")
# XML-invalid code points make lxml refuse the whole document; they never carry meaning in mail.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def html_to_text(html: str) -> str:
    """Render HTML as readable plain text; text inside <blockquote> gets "> " prefixes."""
    # inscriptis drops <hr>, but mail clients use it to separate the reply from the quoted mail.
    source = _HR.sub("<div>" + "_" * 32 + "</div>", _XML_INVALID.sub("", html))
    try:
        result = get_annotated_text(source, _TEXT_CONFIG)
        text: str = result.get("text", "")
        spans = [(int(a[0]), int(a[1])) for a in result.get("label", [])]
    except Exception:  # lxml can refuse odd documents; a rough rendering beats no text.
        text, spans = _rough_text(source), []
    lines: list[str] = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        # A line belongs to a quote when its first visible character does; blank lines only when
        # they sit strictly inside the quote, so no stray ">" trails the quoted block.
        probe = offset + (len(line) - len(line.lstrip())) if stripped else offset
        depth = sum(1 for start, end in spans if start <= probe < end and (stripped or start < probe))
        lines.append(("> " * depth + stripped).rstrip() if depth else line.rstrip())
        offset += len(line) + 1
    return _MANY_BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")


def _rough_text(html: str) -> str:
    with_breaks = _BLOCK_BREAK.sub("\n", html)
    return html_lib.unescape(_TAG.sub("", with_breaks))


def text_to_html(text: str) -> str:
    """Escape plain text into a minimal HTML body that keeps the line breaks."""
    paragraphs = re.split(r"\n{2,}", text.strip())
    rendered = ("<p>" + html_lib.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs if p)
    return "\n".join(rendered)
