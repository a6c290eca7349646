"""Article bodies: Markdown rendered to sanitised HTML, and the plain text behind it."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from opora.kit.html import sanitize_html

# Raw HTML in Markdown is off: authors write Markdown; the sanitiser is the second line anyway.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_TAGS = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>")
_BLANKS = re.compile(r"[ \t]+")
_LINES = re.compile(r"\n{2,}")


def render(markdown: str) -> str:
    """Safe HTML for the portal and the agent UI; images stay as <img src> by URL."""
    return sanitize_html(_MD.render(markdown))


def plain_text(safe_html: str) -> str:
    """Readable text of rendered HTML: blocks on their own lines, no markup."""
    text = _TAGS.sub("", _BLOCK_END.sub(lambda m: m.group(0) + "\n", safe_html))
    text = _BLANKS.sub(" ", html.unescape(text))
    return _LINES.sub("\n", text).strip()
