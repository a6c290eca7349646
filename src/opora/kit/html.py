"""Sanitising HTML that came from outside (mail, chat, the API) before anyone displays it.

Stricter than a generic cleaner where it matters for a help desk: inline CSS keeps only harmless
layout and colour properties (no url(), no positioning that could overlay the agent UI), the
content of script/style/title is dropped rather than shown as text, and ``cid:`` URLs survive so
inline mail images can be rewritten to attachment URLs.
"""

from __future__ import annotations

import re

import nh3

_EXTRA_TAGS = {"font", "center", "tfoot", "big"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "dir", "lang", "title", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "align"},
    "table": {"width", "border", "cellpadding", "cellspacing", "align", "bgcolor"},
    "td": {"colspan", "rowspan", "width", "height", "valign", "align", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "height", "valign", "align", "bgcolor"},
    "tr": {"valign", "align", "bgcolor"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "blockquote": {"type"},
}
# Remote images stay (the UI decides whether to load them); script-capable schemes never do.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
# Content of these is dropped entirely, not just the tags, so CSS or a <title> never leaks as text.
_DROP_WITH_CONTENT = {"script", "style", "title", "head", "object", "embed", "iframe", "noscript"}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "line-height",
    "letter-spacing",
    "white-space",
    "vertical-align",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "width",
    "max-width",
    "min-width",
    "height",
    "direction",
    "display",
    "list-style-type",
}
_CLEANER = nh3.Cleaner(
    tags=(nh3.ALLOWED_TAGS | _EXTRA_TAGS) - _DROP_WITH_CONTENT,
    clean_content_tags=_DROP_WITH_CONTENT,
    attributes=_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    filter_style_properties=_STYLE_PROPERTIES,
)
# Code points that are invalid in XML never carry meaning; parsers downstream choke on them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def sanitize_html(html: str) -> str:
    """Return HTML safe to show: no scripts, event handlers, javascript: URLs or risky CSS."""
    cleaned = _CLEANER.clean(_XML_INVALID.sub("", html))
    return cleaned.strip()
