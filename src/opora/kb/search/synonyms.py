"""Synonym groups applied to a query: any phrase of a group also finds the others.

Expansion happens at query time, so an admin's edit works at once without re-indexing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opora.kit.text import stems

Phrase = tuple[str, ...]


def compile_groups(groups: Iterable[Sequence[str]]) -> list[tuple[Phrase, ...]]:
    """Each group as stemmed phrases; empty phrases and one-phrase groups carry nothing."""
    compiled: list[tuple[Phrase, ...]] = []
    for group in groups:
        phrases = tuple(dict.fromkeys(tuple(stems(p)) for p in group if stems(p)))
        if len(phrases) > 1:
            compiled.append(phrases)
    return compiled


def match_at(
    tokens: Sequence[str], start: int, groups: Sequence[tuple[Phrase, ...]]
) -> tuple[int, tuple[Phrase, ...]] | None:
    """The longest phrase of any group that starts at ``tokens[start]``: (its length, its group)."""
    best: tuple[int, tuple[Phrase, ...]] | None = None
    for group in groups:
        for phrase in group:
            size = len(phrase)
            if tuple(tokens[start : start + size]) == phrase and (best is None or size > best[0]):
                best = (size, group)
    return best
