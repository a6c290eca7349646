"""Typo tolerance: correcting a query word against the indexed vocabulary by edit distance."""

from __future__ import annotations

from collections.abc import Iterable


def max_distance(word: str) -> int:
    """Short words tolerate no typo (too many neighbours), middling ones one, long ones two."""
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts as one), or limit + 1 once
    the distance is known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def corrections(word: str, vocabulary: Iterable[str], *, limit: int = 3) -> list[str]:
    """The closest vocabulary words within the word's tolerance, nearest first."""
    tolerance = max_distance(word)
    if tolerance == 0:
        return []
    scored = []
    letters = set(word)
    for candidate in vocabulary:
        # Cheap filter first: each edit adds at most one letter the word does not have.
        if candidate == word or len(set(candidate) - letters) > tolerance:
            continue
        d = distance(word, candidate, tolerance)
        if d <= tolerance:
            scored.append((d, abs(len(candidate) - len(word)), candidate))
    return [candidate for _, _, candidate in sorted(scored)[:limit]]
