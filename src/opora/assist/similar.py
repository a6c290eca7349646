"""Similar solved tickets, the pure part: which stems describe a text, and how to rank by them.

The index is an inverted list of stems (``assist_solved_terms``). A query reads, for each of its
most telling stems, only the newest ``WINDOW`` tickets having it, so its cost depends on the
query, never on the size of the desk. How many of those tickets a stem has (capped at
``WINDOW``) is its document frequency: a stem found in few tickets weighs more (idf), a stem
found in the whole window (“заказ”) weighs little and cannot crowd out the rarer ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from opora.assist.models import MAX_STEM
from opora.kit.text import content_words, stem

# How many of the newest tickets per stem one query reads: 12 stems × 400 rows at most.
WINDOW = 400
MAX_QUERY_STEMS = 12
MAX_DOC_STEMS = 300
# A text of a solved ticket is its subject and the customer's first messages, up to this size.
MAX_DOC_CHARS = 6_000
# A candidate must share this share of the query's weight to be shown at all.
MIN_COVERAGE = 0.25
UNSEEN_WEIGHT = 1.0


def text_stems(texts: Iterable[str]) -> list[str]:
    """Content stems of the texts, each once, in order of appearance.

    Numbers are left out: order and phone numbers identify one customer, never a kind of
    problem, and the index should hold no personal data it does not need.
    """
    seen: dict[str, None] = {}
    for text in texts:
        for word in content_words(text):
            if word.isdigit() or len(word) < 2:
                continue
            stemmed = stem(word)[:MAX_STEM]
            if not any(c.isdigit() for c in stemmed):
                seen.setdefault(stemmed, None)
    return list(seen)


def doc_stems(texts: Sequence[str]) -> list[str]:
    budget, kept = MAX_DOC_CHARS, []
    for text in texts:
        if budget <= 0:
            break
        kept.append(text[:budget])
        budget -= len(text)
    return text_stems(kept)[:MAX_DOC_STEMS]


def query_stems(texts: Sequence[str]) -> list[str]:
    """The stems a ticket is looked up by: the newest message's first, then older ones, then the
    subject (``texts`` come in that order)."""
    return text_stems(texts)[:MAX_QUERY_STEMS]


def idf(frequency: int) -> float:
    return math.log(1 + WINDOW / max(1, frequency))


@dataclass(frozen=True, slots=True)
class Candidate:
    ticket_id: int
    matched: float  # sum of the idf of the shared stems


def frequencies(postings: Sequence[tuple[str, int]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for term, _ in postings:
        found[term] = found.get(term, 0) + 1
    return found


def candidates(postings: Sequence[tuple[str, int]], *, limit: int) -> tuple[list[Candidate], float]:
    """The best ``limit`` tickets by shared weight, and the query's total weight (for coverage)."""
    frequency = frequencies(postings)
    weights = {term: idf(n) for term, n in frequency.items()}
    scores: dict[int, float] = {}
    for term, ticket_id in postings:
        scores[ticket_id] = scores.get(ticket_id, 0.0) + weights[term]
    ranked = sorted(scores.items(), key=lambda item: (-item[1], -item[0]))[:limit]
    return [Candidate(t, s) for t, s in ranked], sum(weights.values())


def similarity(matched: float, query_weight: float, doc_terms: int, unseen_weight: float) -> float:
    """Cosine of the query and a document, stems weighted by idf on the query side.

    ``unseen_weight`` is the weight of the query's stems that no solved ticket has: they count
    against every document alike.
    """
    norm = math.sqrt((query_weight + unseen_weight) * max(1, doc_terms))
    return matched / norm if norm else 0.0


def coverage(matched: float, query_weight: float, unseen_weight: float) -> float:
    total = query_weight + unseen_weight
    return matched / total if total else 0.0


def unseen(query: Sequence[str], frequencies: Mapping[str, int]) -> float:
    """Stems no solved ticket has say little (a name, a typo) but not nothing: a query of one
    common word and nine unknown ones is not covered by a ticket sharing that one word."""
    return UNSEEN_WEIGHT * sum(1 for term in query if frequencies.get(term, 0) == 0)
