"""Finding @mentions of agents in a note: pure, tested without a database.

An agent is mentioned by the local part of its e-mail ("@olga" for olga@shop.example), by its
whole e-mail, or by its full name as written in the desk ("@Olga Petrova", "@Ольга Петрова").
Matching ignores letter case in every script. A mention that fits several agents equally well
notifies none of them: a wrong person reading a colleague's note is worse than a missed ping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# "@" at the start or after something that cannot be part of an address ("x@olga" is mail).
_AT = re.compile(r"(?<![\w@.+-])@")
_TOKEN = re.compile(r"[\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?")
_TRAILING = ".-+"


@dataclass(frozen=True, slots=True)
class Handle:
    """How one agent can be mentioned."""

    agent_id: int
    email: str
    name: str

    @property
    def local_part(self) -> str:
        return self.email.partition("@")[0]


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def _names(handles: Iterable[Handle]) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    tokens: dict[str, set[int]] = {}
    names: dict[str, set[int]] = {}
    for h in handles:
        tokens.setdefault(_fold(h.local_part), set()).add(h.agent_id)
        tokens.setdefault(_fold(h.email), set()).add(h.agent_id)
        name = " ".join(_fold(h.name).split())
        if name:
            names.setdefault(name, set()).add(h.agent_id)
    return tokens, names


def _ends_word(text: str, at: int) -> bool:
    return at >= len(text) or not (text[at].isalnum() or text[at] == "_")


def parse_mentions(text: str, handles: Iterable[Handle]) -> list[int]:
    """Ids of the agents ``text`` mentions, each once, in order of first mention.

    Where a handle and a full name both fit, the longer wins ("@Olga Petrova" over "@olga"); on
    a tie the handle wins, since that is what the composer's autocomplete inserts.
    """
    tokens, names = _names(handles)
    by_length = sorted(names, key=len, reverse=True)
    found: dict[int, None] = {}
    for at in _AT.finditer(text):
        rest = re.sub(r"[ \t]+", " ", _fold(text[at.end() : at.end() + 200]))
        candidates: list[tuple[int, int, set[int]]] = []  # (length, handle first, ids)
        token = _TOKEN.match(rest)
        if token:
            word = token.group(0).rstrip(_TRAILING)
            if word in tokens:
                candidates.append((len(word), 1, tokens[word]))
        name = next((n for n in by_length if rest.startswith(n) and _ends_word(rest, len(n))), None)
        if name is not None:
            candidates.append((len(name), 0, names[name]))
        for _length, _rank, ids in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True):
            if len(ids) == 1:
                found.setdefault(next(iter(ids)), None)
                break
    return list(found)
