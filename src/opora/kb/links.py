"""Where the customer portal shows a published article: one address for every link we send."""

from __future__ import annotations

ARTICLE_PATH = "/help/{language}/{slug}"


def article_url(public_url: str, language: str, slug: str) -> str:
    return public_url.rstrip("/") + ARTICLE_PATH.format(language=language, slug=slug)
