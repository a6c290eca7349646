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


class _Matcher:
    """Whether a folded word is one the query looked for, remembered per word: an article says
    the same words many times, and a search highlights ten of them."""

    __slots__ = ("_known", "_prefixes", "_stems")

    def __init__(self, stems: Collection[str], prefixes: Collection[str]) -> None:
        self._stems = stems
        self._prefixes = tuple(prefixes)
        self._known: dict[str, bool] = {}

    def __call__(self, word: str) -> bool:
        found = self._known.get(word)
        if found is None:
            stemmed = stem(word)
            found = stemmed in self._stems or (
                bool(self._prefixes)
                and (stemmed.startswith(self._prefixes) or word.startswith(self._prefixes))
            )
            self._known[word] = found
        return found


class Highlighter:
    """Marks one query's words in several texts: the titles and snippets of a result page share
    most of their words, so each word is checked once per search rather than once per text."""

    __slots__ = ("_matches",)

    def __init__(self, stems: Collection[str], prefixes: Collection[str] = ()) -> None:
        self._matches = _Matcher(stems, prefixes)

    def mark(self, text: str) -> str:
        return _render(text, list(word_spans(text)), 0, None, self._matches)

    def snippet(self, text: str, *, size: int = SNIPPET_WORDS) -> str:
        return _snippet(text, self._matches, size)


def mark(text: str, stems: Collection[str], prefixes: Collection[str] = ()) -> str:
    """The whole text, escaped, with matched words marked (titles)."""
    return Highlighter(stems, prefixes).mark(text)


def snippet(
    text: str, stems: Collection[str], prefixes: Collection[str] = (), *, size: int = SNIPPET_WORDS
) -> str:
    """The window of ``size`` words holding the most matches, escaped and marked; "…" shows a cut."""
    return Highlighter(stems, prefixes).snippet(text, size=size)


def _snippet(text: str, matches: _Matcher, size: int) -> str:
    # The best passage is looked for in the first words only: a long article's matches are
    # almost always near its start, and the scan is the costliest part of a search.
    spans = list(itertools.islice(word_spans(text), SCAN_WORDS + 1))
    more = len(spans) > SCAN_WORDS
    spans = spans[:SCAN_WORDS]
    if not spans:
        return ""
    hits = [1 if matches(w) else 0 for _, _, w in spans]
    best_start, best = 0, sum(hits[:size])
    current = best
    for start in range(1, max(1, len(spans) - size + 1)):
        current += hits[start + size - 1] - hits[start - 1]
        if current > best:
            best_start, best = start, current
    end = min(len(spans), best_start + size)
    return _render(text, spans, best_start, end, matches, more=more)


def _render(
    text: str,
    spans: list[tuple[int, int, str]],
    first: int,
    end: int | None,
    matches: _Matcher,
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
        if start > position:
            out.append(escape(text[position:start]))
        # A word is letters and digits only (kit.text), so it never needs escaping.
        piece = text[start:stop]
        out.append(f"<mark>{piece}</mark>" if matches(word) else piece)
        position = stop
    if cut_after:
        out.append("…")
    else:
        out.append(escape(text[position:]))
    return "".join(out).strip()
