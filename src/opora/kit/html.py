"""Sanitising HTML that came from outside before anyone displays it."""

from __future__ import annotations

import nh3

# Mail and chat HTML keeps layout and images, but never scripts, event handlers or forms.
_EXTRA_TAGS = {"font", "center"}
_ATTRIBUTES = {
    "*": {"style", "class", "dir", "lang", "title", "align"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "width", "valign", "align"},
    "th": {"colspan", "rowspan", "width", "valign", "align"},
    "table": {"width", "border", "cellpadding", "cellspacing"},
    "font": {"color", "face", "size"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=nh3.ALLOWED_TAGS | _EXTRA_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
