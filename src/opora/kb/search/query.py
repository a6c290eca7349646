"""Turning what someone typed into a search expression for FTS5 or tsquery.

Nothing the user typed reaches the database as syntax: the text is cut into words (letters and
digits only), each word is stemmed, and the expression is built from those stems, each one
quoted. Quotes, ``*``, ``NEAR``, ``-``, ``:``, parentheses or SQL in a query are just separators
or ordinary words. Clauses are OR-ed: ranking (BM25 on SQLite, ts_rank on PostgreSQL) puts the
articles matching most of the words first, and a long customer message still finds something.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opora.kb.search.synonyms import Phrase, match_at
from opora.kit.text import STOPWORDS, from_translit, stem, words

MAX_QUERY_CHARS = 2_000
MAX_CLAUSES = 32
# A word's stem is matched by its first five letters: Snowball strips inflections but not
# derivations («доставка» доставк, «доставить» достав, «доставлен» доставл). Measured on the
# benchmark's train+validation questions against articles not tuned to them: recall@3 0.848 →
# 0.875 (4 letters 0.862, 6 letters 0.866, the full stem as a prefix 0.857).
STEM_PREFIX = 5
MIN_PREFIX_WORD = 4


@dataclass(frozen=True, slots=True)
class Clause:
    """One thing looked for: any of its phrases (a phrase is a run of stems)."""

    alternatives: tuple[Phrase, ...]
    # The last word of a query typed in the widget may be unfinished: match it as a prefix.
    prefix: bool = False
    # Synonym groups are matched as the admin wrote them, never by prefix.
    exact: bool = False

    def terms(self) -> list[tuple[Phrase, bool]]:
        """(phrase, is a prefix) as the backends are to match them, without duplicates."""
        if self.prefix:
            return [(self.alternatives[0], True)]
        out: dict[tuple[Phrase, bool], None] = {}
        for phrase in self.alternatives:
            word = phrase[0]
            if not self.exact and len(phrase) == 1 and len(word) >= MIN_PREFIX_WORD and not word.isdigit():
                out[((word[:STEM_PREFIX],), True)] = None
            else:
                out[(phrase, False)] = None
        return list(out)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    clauses: tuple[Clause, ...]
    # Stems sorted and deduplicated: the key content gaps are grouped by.
    normalized: str

    @property
    def empty(self) -> bool:
        return not self.clauses

    def stems(self) -> set[str]:
        return {s for clause in self.clauses for phrase in clause.alternatives for s in phrase}

    def prefixes(self) -> set[str]:
        return {phrase[0] for c in self.clauses for phrase, prefix in c.terms() if prefix}


def parse(
    text: str,
    *,
    synonyms: Sequence[tuple[Phrase, ...]] = (),
    prefix_last: bool = False,
) -> ParsedQuery:
    """Clauses for the query's content words, with synonym groups folded in.

    Stop words are dropped unless the query has nothing else ("how to" still searches).
    """
    all_words = words(text[:MAX_QUERY_CHARS])
    content = [w for w in all_words if w not in STOPWORDS and from_translit(w) not in STOPWORDS] or all_words
    tokens = [stem(w) for w in content]
    ends_in_word = bool(text) and not text[-1].isspace() and bool(all_words)
    clauses: list[Clause] = []
    seen: set[tuple[Phrase, ...]] = set()
    i = 0
    last_is_word = False
    while i < len(tokens) and len(clauses) < MAX_CLAUSES:
        found = match_at(tokens, i, synonyms)
        if found is not None:
            size, group = found
            alternatives = group
            i += size
        else:
            alternatives = _word_alternatives(content[i], tokens[i])
            i += 1
        if alternatives in seen:
            continue
        seen.add(alternatives)
        clauses.append(Clause(alternatives, exact=found is not None))
        last_is_word = found is None
    if prefix_last and ends_in_word and clauses and i == len(tokens):
        last = clauses[-1]
        # Only a lone word can be a prefix. Its stem is the prefix: stemming only cuts endings,
        # so "достав" (stem "достав") finds "доставк" and a finished "заказы" still finds "заказ".
        if last_is_word and len(content[-1]) >= 2:
            clauses[-1] = Clause(last.alternatives[:1], prefix=True)
    normalized = " ".join(sorted(set(tokens)))[:300]
    return ParsedQuery(tuple(clauses), normalized)


def _word_alternatives(word: str, stemmed: str) -> tuple[Phrase, ...]:
    """The word's stem, and for a Latin word also the stem of its Cyrillic reading: customers
    write Russian in Latin letters («otmenite zakaz»), and a real English word's reading
    matches nothing, so it costs no precision."""
    cyrillic = from_translit(word)
    if cyrillic is None or len(word) < 3:
        return ((stemmed,),)
    other = stem(cyrillic)
    return ((stemmed,),) if other == stemmed else ((stemmed,), (other,))


def with_corrections(query: ParsedQuery, fixes: dict[str, list[str]]) -> ParsedQuery:
    """Adds vocabulary corrections as alternatives of single-word clauses."""
    if not fixes:
        return query
    clauses = []
    for clause in query.clauses:
        word = clause.alternatives[0][0] if len(clause.alternatives[0]) == 1 else None
        extra = tuple((fix,) for fix in fixes.get(word or "", []))
        clauses.append(Clause(clause.alternatives + extra, clause.prefix, clause.exact) if extra else clause)
    return ParsedQuery(tuple(clauses), query.normalized)


def _quoted_fts5(phrase: Phrase) -> str:
    # Stems hold only letters and digits, so wrapping them in double quotes is enough.
    return '"' + " ".join(phrase) + '"'


def fts5_expression(query: ParsedQuery) -> str:
    parts = []
    for clause in query.clauses:
        terms = [_quoted_fts5(phrase) + ("*" if prefix else "") for phrase, prefix in clause.terms()]
        parts.append(" OR ".join(terms))
    return " OR ".join(f"({p})" for p in parts)


def _quoted_ts(phrase: Phrase) -> str:
    return " <-> ".join(f"'{word}'" for word in phrase)


def tsquery_alternatives(query: ParsedQuery) -> list[list[str]]:
    """Per clause, one tsquery per alternative (a word, its Cyrillic reading, a synonym)."""
    return [
        [f"({_quoted_ts(phrase)}{':*' if prefix else ''})" for phrase, prefix in clause.terms()]
        for clause in query.clauses
    ]


def tsquery_clauses(query: ParsedQuery) -> list[str]:
    """One tsquery per clause: what PostgreSQL weighs by its document frequency."""
    return either_of(tsquery_alternatives(query))


def either_of(alternatives: list[list[str]]) -> list[str]:
    """Each clause's alternatives joined into one tsquery that matches any of them."""
    return [" | ".join(terms) for terms in alternatives]


def tsquery_expression(query: ParsedQuery) -> str:
    return " | ".join(f"({p})" for p in tsquery_clauses(query))
