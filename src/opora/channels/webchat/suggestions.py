"""Article suggestions while the visitor types."""

from __future__ import annotations

from opora.channels.webchat.schemas import SuggestionOut, SuggestionsOut
from opora.db import UnitOfWork
from opora.kb.links import article_url
from opora.kb.search import service as kb_search
from opora.runtime import Runtime

# From the third character, a few at a time.
SUGGEST_MIN_CHARS = 3
SUGGEST_LIMIT = 3


async def suggestions(uow: UnitOfWork, runtime: Runtime, text: str, language: str | None) -> SuggestionsOut:
    """Published public articles for what the visitor is typing, as links to the portal."""
    if len(text.strip()) < SUGGEST_MIN_CHARS:
        return SuggestionsOut(articles=[])
    found = await kb_search.suggest_for_widget(uow, text, language=language, limit=SUGGEST_LIMIT)
    return SuggestionsOut(
        articles=[
            SuggestionOut(
                title=h.article.title,
                url=article_url(runtime.settings.public_url, h.article.language, h.article.slug),
            )
            for h in found.hits
        ]
    )
