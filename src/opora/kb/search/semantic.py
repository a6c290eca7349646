"""Semantic re-ranking: articles near the query in a sentence-embedding space join the ranking.

Full-text search only finds articles sharing a stem with the query; a customer who writes «Apple
Pay работает?» or «отвечаете шаблонами» shares none with «Способы оплаты» or «Жалоба на
обслуживание». Each article gets one vector (``kb_article_vectors``, written by a job); a search
embeds the query once and scores every vector in scope by cosine, brute force in numpy (10,000
articles are one 10,000 × 512 product). The final score of a candidate is its full-text score
divided by the best full-text score of the query, plus ``SEMANTIC_WEIGHT`` × cosine: full-text
still decides between articles that both match well, the vectors rescue the ones it cannot see.

Each process keeps the vectors in memory and checks every ``REFRESH_SECONDS`` whether they
changed (count and sum of revisions: one aggregate row); a write in this process drops its copy
when it commits. With no vectors stored, search never loads the encoder.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from opora.bot.embeddings import Embedder, shared_embedder
from opora.db import Database, UnitOfWork
from opora.kb.search import repository

# Tuned on the benchmark's ru and en train+validation questions (``--plain``), weights 1-7 tried:
# see docs/adr/0037-kb-semantic-fusion.md.
SEMANTIC_WEIGHT = 5.0
# Nearest vectors taken as candidates besides the full-text ones.
CANDIDATES = 20
REFRESH_SECONDS = 5.0
# Whether this process re-ranks with vectors (``Settings.kb_search_reranking``). Off, search
# is the full-text ranking alone, no vector is written and the encoder is never loaded.
ENABLED = False
# An article body past this many characters adds little to its meaning and costs encoding time.
MAX_EMBED_CHARS = 4_000
MAX_SENTENCES = 60
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
# Encoding may be skipped when the full-text ranking already has a clear winner: its best score
# at least this many times the second's. Infinity (the default) always encodes. On ru/en
# train+validation 1.5 skipped half the encodings and lost no Russian question, but on the test
# split it cost Russian recall@3 0.929 → 0.884 (SQLite) and 0.911 → 0.902 (PostgreSQL), so it
# is left off; see ADR 0041 before lowering it.
CLEAR_WINNER = math.inf
# A query is encoded from its first this many characters. The encoder's cost grows with the
# tokens (measured, one loaded core: 60 characters 5 ms CPU, 300 15 ms, 2,000 73 ms), and a long
# ticket thread (composer suggestions) says what it is about in its first lines; the bench's
# questions are at most 161 characters.
MAX_QUERY_EMBED_CHARS = 200
# Query vectors kept per process: the same questions come back («возврат», «где мой заказ»),
# and a search re-run with typo corrections encodes the same text again.
QUERY_CACHE_SIZE = 1_024


@dataclass(slots=True)
class EncodingStats:
    """How this process's searches got their query vectors (the bench reports them)."""

    encoded: int = 0
    reused: int = 0
    skipped: int = 0


STATS = EncodingStats()
_query_vectors: OrderedDict[tuple[str, str], NDArray[np.float32]] = OrderedDict()


def configure(*, enabled: bool) -> None:
    global ENABLED
    ENABLED = enabled


def clear_winner(lexical: Sequence[tuple[int, float]]) -> bool:
    """Whether the full-text ranking is sure enough that the vectors need not be asked.

    A query sharing rare words with one article gives it a score well above the rest, and the
    fusion would keep it first anyway; the vectors matter when full-text found nothing or
    several articles score alike.
    """
    # A lone match is not a clear winner: it is often a word shared by chance with the wrong
    # article, the question itself being one full-text cannot see (1-2 points of Russian
    # recall@3 on train+validation when those skipped the vectors).
    if len(lexical) < 2 or math.isinf(CLEAR_WINNER):
        return False
    best, second = lexical[0][1], lexical[1][1]
    return best > 0 and best >= CLEAR_WINNER * max(second, 0.0)


async def query_vector(model: Embedder, text: str) -> NDArray[np.float32]:
    """The query's vector, from this process's cache when the same text was encoded lately."""
    key = (model.name, text[:MAX_QUERY_EMBED_CHARS].strip())
    cached = _query_vectors.get(key)
    if cached is not None:
        _query_vectors.move_to_end(key)
        STATS.reused += 1
        return cached
    rows = await asyncio.to_thread(model.encode, [key[1]])
    vector: NDArray[np.float32] = rows[0]
    STATS.encoded += 1
    _query_vectors[key] = vector
    if len(_query_vectors) > QUERY_CACHE_SIZE:
        _query_vectors.popitem(last=False)
    return vector


def forget_query_vectors() -> None:
    """Empties the query-vector cache (the bench measures encoding, not the cache)."""
    _query_vectors.clear()


def embedder() -> Embedder:
    """The encoder search and indexing use (one per process); tests replace it."""
    return shared_embedder()


def sentences(title: str, body: str) -> list[str]:
    """The title and the body's sentences (the first ``MAX_EMBED_CHARS`` of it), the units the
    encoder was trained on."""
    parts = [title.strip()] + [p.strip() for p in _SENTENCE_END.split(body[:MAX_EMBED_CHARS])]
    return [p for p in parts if p][:MAX_SENTENCES] or ["."]


def article_vectors(model: Embedder, articles: Sequence[tuple[str, str]]) -> NDArray[np.float32]:
    """One row per (title, body): the normalised mean of its sentences' vectors, title first.

    Each sentence says one thing a customer may ask about; one vector for the whole text blurs
    them. On the benchmark's ru train+validation questions the mean of sentence vectors was
    ahead of the whole text's vector, the title's, and their sum (ADR 0037).
    """
    if not articles:
        return np.zeros((0, 0), dtype=np.float32)
    pieces = [sentences(title, body) for title, body in articles]
    rows = model.encode([piece for article in pieces for piece in article])
    out = np.zeros((len(articles), rows.shape[1]), dtype=np.float32)
    start = 0
    for n, article in enumerate(pieces):
        mean = rows[start : start + len(article)].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        out[n] = mean / norm if norm else mean
        start += len(article)
    return out


def _dot(matrix: NDArray[np.float32], vector: NDArray[np.float32]) -> NDArray[np.float32]:
    """``matrix @ vector`` without BLAS. OpenBLAS hands a 10,000 x 512 product to its worker
    threads, which then spin waiting for more work: on two cores that spinning took the CPU the
    rest of the search needed (bench/kb_search.py at 2,000 articles: 35 ms of process CPU per
    search with ``@``, 22-24 ms with this loop; the product itself is ~1.4 ms either way)."""
    product: NDArray[np.float32] = np.einsum("ij,j->i", matrix, vector)
    return product


@dataclass(slots=True)
class VectorIndex:
    """The stored vectors, rows ordered by language so that a search in one language multiplies
    only that language's rows (two thirds of the bench's 10,000, a third less work)."""

    encoder: str
    stamp: tuple[int, int]
    ids: NDArray[np.int64]
    languages: NDArray[np.str_]
    matrix: NDArray[np.float32]
    checked: float
    # Row of each article id, built once per loaded copy rather than on every search.
    position: dict[int, int] = field(default_factory=dict)
    # language → (first row, end row) of its contiguous run.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {int(article_id): row for row, article_id in enumerate(self.ids)}
        for row, language in enumerate(self.languages.tolist()):
            start, _ = self.spans.get(language, (row, row))
            self.spans[language] = (start, row + 1)

    @property
    def empty(self) -> bool:
        return not len(self.ids)

    def nearest(
        self, query: NDArray[np.float32], language: str | None, also: Sequence[int]
    ) -> tuple[dict[int, float], dict[int, float]]:
        """The ``CANDIDATES`` nearest articles in the language, and the cosines of the ``also``
        articles that have a vector, from one pass over the matrix.

        The full-text matches of a search in one language are rows of that language's span, so
        their cosines are read from the product already made: the matrix is bigger than the
        CPU's caches, and a second pass to gather their rows cost as much again as the first.
        """
        start, end = (0, len(self.ids)) if not language else self.spans.get(language, (0, 0))
        if end <= start:
            return {}, self.similarity_of(query, also)
        scores = _dot(self.matrix[start:end], query)
        take = min(CANDIDATES, len(scores))
        best = np.argpartition(-scores, take - 1)[:take]
        near = {int(self.ids[start + i]): float(scores[i]) for i in best}
        given: dict[int, float] = {}
        outside: list[int] = []
        for article_id in also:
            row = self.position.get(article_id)
            if row is None:
                continue
            if start <= row < end:
                given[article_id] = float(scores[row - start])
            else:
                outside.append(article_id)
        if outside:
            given |= self.similarity_of(query, outside)
        return near, given

    def similarity_of(self, query: NDArray[np.float32], ids: Sequence[int]) -> dict[int, float]:
        """Cosine of the query to the given articles that have a vector."""
        position = self.position
        rows = [(i, position[i]) for i in ids if i in position]
        if not rows:
            return {}
        values = _dot(self.matrix[[row for _, row in rows]], query)
        return {article_id: float(v) for (article_id, _), v in zip(rows, values, strict=True)}


# What search uses while re-ranking is off: no vectors, so the full-text path runs unchanged.
NO_VECTORS = VectorIndex(
    "", (0, 0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype="<U2"), np.zeros((0, 1), dtype=np.float32), 0.0
)

_indexes: weakref.WeakKeyDictionary[Database, VectorIndex] = weakref.WeakKeyDictionary()


async def vector_index(uow: UnitOfWork, encoder: str) -> VectorIndex:
    """This process's copy of the stored vectors, reloaded when another process changed them."""
    now = time.monotonic()
    cached = _indexes.get(uow.database)
    if cached is not None and cached.encoder == encoder and now - cached.checked < REFRESH_SECONDS:
        return cached
    stamp = await repository.vectors_stamp(uow, encoder)
    if cached is not None and cached.encoder == encoder and cached.stamp == stamp:
        cached.checked = now
        return cached
    # Grouped by language for VectorIndex.spans; by id within one, for a stable order.
    rows = sorted(await repository.vectors(uow, encoder), key=lambda row: (row[1], row[0]))
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    languages = np.array([row[1] for row in rows], dtype="<U2")
    matrix = (
        np.stack([np.frombuffer(row[2], dtype=np.float32) for row in rows])
        if rows
        else np.zeros((0, 1), dtype=np.float32)
    )
    index = VectorIndex(encoder, stamp, ids, languages, matrix, now)
    _indexes[uow.database] = index
    return index


def forget_after_commit(uow: UnitOfWork) -> None:
    """Vectors were written: this process reloads them on its next search after the commit."""

    async def forget() -> None:
        _indexes.pop(uow.database, None)

    uow.after_commit(forget)


def fuse(lexical: Sequence[tuple[int, float]], semantic: dict[int, float]) -> list[tuple[int, float]]:
    """(article id, score) best first: full-text score over the query's best one, plus the
    weighted cosine; an article missing from one side gets nothing from it."""
    best = max((score for _, score in lexical), default=0.0)
    scores = {article_id: semantic.get(article_id, 0.0) * SEMANTIC_WEIGHT for article_id in semantic}
    for article_id, score in lexical:
        share = score / best if best > 0 else 0.0
        scores[article_id] = share + SEMANTIC_WEIGHT * semantic.get(article_id, 0.0)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
