"""Highlights: the best passage of an article with the matched words in ``<mark>``.

Done on the article's own text, not by the database, because the index holds stems: a word is
marked when its stem is one the query looked for. Everything else is HTML-escaped, so the result
is safe to insert as HTML.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from html import escape

from opora.kit.text import stem, word_spans

SNIPPET_WORDS = 30
SCAN_WORDS = 400


def _is_match(word: str, stems: Collection[str], prefixes: tuple[str, ...]) -> bool:
    stemmed = stem(word)
    return stemmed in stems or (
        bool(prefixes) and (stemmed.startswith(prefixes) or word.startswith(prefixes))
    )


def mark(text: str, stems: Collection[str], prefixes: Collection[str] = ()) -> str:
    """The whole text, escaped, with matched words marked (titles)."""
    return _render(text, list(word_spans(text)), 0, None, stems, tuple(prefixes))


def snippet(
    text: str, stems: Collection[str], prefixes: Collection[str] = (), *, size: int = SNIPPET_WORDS
) -> str:
    """The window of ``size`` words holding the most matches, escaped and marked; "…" shows a cut."""
    # The best passage is looked for in the first words only: a long article's matches are
    # almost always near its start, and the scan is the costliest part of a search.
    spans = list(itertools.islice(word_spans(text), SCAN_WORDS + 1))
    more = len(spans) > SCAN_WORDS
    spans = spans[:SCAN_WORDS]
    if not spans:
        return ""
    starts = tuple(prefixes)
    hits = [1 if _is_match(w, stems, starts) else 0 for _, _, w in spans]
    best_start, best = 0, sum(hits[:size])
    current = best
    for start in range(1, max(1, len(spans) - size + 1)):
        current += hits[start + size - 1] - hits[start - 1]
        if current > best:
            best_start, best = start, current
    end = min(len(spans), best_start + size)
    return _render(text, spans, best_start, end, stems, starts, more=more)


def _render(
    text: str,
    spans: list[tuple[int, int, str]],
    first: int,
    end: int | None,
    stems: Collection[str],
    prefixes: tuple[str, ...],
    *,
    more: bool = False,
) -> str:
    if not spans:
        return escape(text)
    chosen = spans[first:end]
    cut_before = first > 0
    cut_after = more or (end is not None and end < len(spans))
    position = chosen[0][0] if cut_before else 0
    out = ["…"] if cut_before else []
    for start, stop, word in chosen:
        out.append(escape(text[position:start]))
        piece = escape(text[start:stop])
        out.append(f"<mark>{piece}</mark>" if _is_match(word, stems, prefixes) else piece)
        position = stop
    if cut_after:
        out.append("…")
    else:
        out.append(escape(text[position:]))
    return "".join(out).strip()
