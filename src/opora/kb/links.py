"""Where the portal shows an article. Every link to an article is built here, so that the portal's
route can change in one place."""

from __future__ import annotations

from urllib.parse import quote


def article_path(language: str, slug: str) -> str:
    return f"/help/{quote(language, safe='')}/articles/{quote(slug, safe='')}"


def article_url(base_url: str, language: str, slug: str) -> str:
    """The absolute address a customer can open from an e-mail or a messenger."""
    return base_url.rstrip("/") + article_path(language, slug)
