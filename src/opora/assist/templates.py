"""Which templates fit a ticket, the pure part: shared words, the ticket's topic and intent."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from opora.assist.similar import text_stems
from opora.kit import placeholders
from opora.kit.text import fold

# A tag naming the ticket's intent is the strongest sign an admin can give; the topic (one of
# the shop's eight categories) is broader; one shared title word counts twice a body word.
INTENT_BONUS = 3.0
TOPIC_BONUS = 2.0
TITLE_WEIGHT = 2.0
LIMIT = 3


@dataclass(frozen=True, slots=True)
class TemplateText:
    id: int
    title: str
    body: str
    tags: Sequence[str]


def score(template: TemplateText, *, query: set[str], topic: str | None, intent: str | None) -> float:
    tags = {fold(tag) for tag in template.tags}
    title = set(text_stems([template.title, " ".join(template.tags)]))
    # Variables are not words of the text ("customer", "first", "name").
    body = set(text_stems([placeholders.render(template.body, {})])) - title
    shared = TITLE_WEIGHT * len(query & title) + len(query & body)
    value = shared / math.sqrt(1 + len(title) + len(body)) if shared else 0.0
    if intent and fold(intent) in tags:
        value += INTENT_BONUS
    if topic and (fold(topic) in tags or fold(topic) in title):
        value += TOPIC_BONUS
    return value


def rank(
    templates: Sequence[TemplateText],
    *,
    query: Sequence[str],
    topic: str | None,
    intent: str | None,
    limit: int = LIMIT,
) -> list[tuple[TemplateText, float]]:
    """The best ``limit`` templates with a positive score, best first (ties: the older template)."""
    wanted = set(query)
    scored = [(t, score(t, query=wanted, topic=topic, intent=intent)) for t in templates]
    kept = [(t, s) for t, s in scored if s > 0]
    kept.sort(key=lambda item: (-item[1], item[0].id))
    return kept[:limit]
