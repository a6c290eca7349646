"""Search use cases: full-text search, suggestions, clicks, synonyms, and keeping the index.

The portal, the widget and the agent UI call these functions; endpoints are thin wrappers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from opora.auth.permissions import Principal
from opora.db import Database, UnitOfWork
from opora.jobs.service import enqueue
from opora.kb.models import ArticleStatus, KbArticle, KbSynonym
from opora.kb.search import highlight, query, repository, semantic, typos
from opora.kb.search.repository import Scope
from opora.kb.search.synonyms import Phrase, compile_groups
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.text import fold, from_translit, stem, stemmed_text, stems
from opora.kit.time import utcnow
from opora.tickets.service import visible_ticket

_log = logging.getLogger(__name__)

MAX_LIMIT = 50
# Typo correction is for short queries: in a long one the other words carry the meaning.
TYPO_MAX_WORDS = 3
SOURCES = ("portal", "widget", "agent", "bot", "api")
EMBED_TASK = "kb.embed_article"
# Full-text candidates the vectors re-rank (besides semantic.CANDIDATES nearest vectors).
LEXICAL_CANDIDATES = 20
# An article no full-text clause matched joins the results only this close to the query: a
# question about the weather or "asdfgh" is 0.05-0.25 from every article of the benchmark's
# shop, right answers with no shared word mostly 0.3 and above. Below it the search honestly
# finds nothing, and the content-gap report sees that.
MIN_SIMILARITY = 0.3
# When full-text found something the query is about the shop, and a near article that shares
# no word with it may still be the answer (fused scores keep it below better-matched ones).
MIN_SIMILARITY_BESIDE = 0.0
# Control characters (a NUL above all, which PostgreSQL refuses in text) are not logged.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Synonym groups are needed by every search and change rarely, so each process keeps them this
# many seconds instead of reading them each time. An edit clears this process's copy when it
# commits; other processes (the workers of a scaled deployment) pick it up within this delay.
SYNONYM_TTL = 5.0
_synonym_cache: weakref.WeakKeyDictionary[Database, tuple[float, list[tuple[Phrase, ...]]]] = (
    weakref.WeakKeyDictionary()
)


# Stems known to be in the vocabulary, per database. The vocabulary only grows (kb_terms rows are
# never deleted), so a stem once seen there stays there, and a query of known words needs no
# look-up at all. Filled only after a commit, so that a rolled-back index write leaves no trace.
KNOWN_STEMS_MAX = 100_000
_known_stems: weakref.WeakKeyDictionary[Database, set[str]] = weakref.WeakKeyDictionary()


# Document frequencies of query clauses (PostgreSQL's IDF), per database: clause → (counted at,
# articles indexed, articles matching).
DF_TTL = 600.0
DF_CACHE_MAX = 50_000
_frequencies: weakref.WeakKeyDictionary[Database, dict[str, tuple[float, int, int]]] = (
    weakref.WeakKeyDictionary()
)
_ALL_DOCS = ""


@dataclass(frozen=True, slots=True)
class Hit:
    article: KbArticle
    score: float
    title_html: str
    snippet_html: str


@dataclass(slots=True)
class SearchResult:
    query: str
    hits: list[Hit] = field(default_factory=list)
    # Set when the search was logged: the id to report a click on.
    search_id: int | None = None
    corrections: dict[str, list[str]] = field(default_factory=dict)


def public_scope(language: str | None) -> Scope:
    return Scope(language=language)


def agent_scope(language: str | None, *, drafts: bool = False) -> Scope:
    statuses = (ArticleStatus.PUBLISHED, ArticleStatus.DRAFT) if drafts else (ArticleStatus.PUBLISHED,)
    return Scope(language=language, statuses=statuses, include_internal=True)


async def index_article(uow: UnitOfWork, article: KbArticle) -> None:
    """Writes the article's stemmed text to the full-text index and its stems to the vocabulary."""
    title = stemmed_text([article.title])
    body = stemmed_text([article.body_text, " ".join(article.tags)])
    await repository.save_doc(uow, article, title=title, body=body)
    await repository.add_terms(uow, (title + " " + body).split())
    if semantic.ENABLED:
        # Encoding takes tens of milliseconds and a loaded model: a job does it after the commit.
        await enqueue(uow, EMBED_TASK, {"article_id": article.id})


async def embed_articles(uow: UnitOfWork, articles: Sequence[KbArticle]) -> None:
    """Stores each article's sentence vector for semantic re-ranking (the job, kb.reindex and
    bulk loads call this)."""
    if not articles:
        return
    model = semantic.embedder()
    texts = [(article.title, article.body_text) for article in articles]
    vectors = await asyncio.to_thread(semantic.article_vectors, model, texts)
    for article, vector in zip(articles, vectors, strict=True):
        await repository.save_vector(uow, article, model.name, vector.tobytes())
    semantic.forget_after_commit(uow)


async def _synonym_groups(uow: UnitOfWork) -> list[tuple[Phrase, ...]]:
    cached = _synonym_cache.get(uow.database)
    now = time.monotonic()
    if cached is not None and now - cached[0] < SYNONYM_TTL:
        return cached[1]
    groups = compile_groups(s.phrases for s in await repository.synonyms(uow))
    _synonym_cache[uow.database] = (now, groups)
    return groups


def _forget_synonyms_after_commit(uow: UnitOfWork) -> None:
    async def forget() -> None:
        _synonym_cache.pop(uow.database, None)

    # Also now: a search later in this same transaction must see the edit.
    _synonym_cache.pop(uow.database, None)
    uow.after_commit(forget)


async def _corrections(uow: UnitOfWork, parsed: query.ParsedQuery) -> dict[str, list[str]]:
    singles = [c.alternatives[0][0] for c in parsed.clauses if not c.exact and not c.prefix]
    candidates = [w for w in dict.fromkeys(singles) if len(w) >= 4 and not w.isdigit()]
    if not candidates:
        return {}
    # A Latin word whose Cyrillic reading is indexed is Russian in Latin letters, not a typo.
    readings = {w: stem(r) for w in candidates if (r := from_translit(w)) is not None}
    # Whether each word is known and what it could be a typo of come in one look-up: a search
    # is a few round trips, and a separate one per word cost more than the ranking.
    known = _known_stems.setdefault(uow.database, set())
    candidates = [w for w in candidates if w not in known and readings.get(w) not in known]
    if not candidates:
        return {}
    spreads = {w: typos.max_distance(w) for w in candidates}
    looked_up = [*candidates, *(readings[w] for w in candidates if w in readings)]
    vocabulary = await repository.vocabulary_for(uow, looked_up, spreads)
    _remember_known(uow, [w for w in looked_up if w in vocabulary])
    fixes: dict[str, list[str]] = {}
    for word in candidates:
        if word in vocabulary or readings.get(word) in vocabulary:
            continue
        near = [t for t in vocabulary if repository.is_near(t, word, spreads[word])]
        found = typos.corrections(word, near)
        if found:
            fixes[word] = found
    return fixes


def _remember_known(uow: UnitOfWork, found: Sequence[str]) -> None:
    if not found:
        return

    async def remember() -> None:
        known = _known_stems.setdefault(uow.database, set())
        if len(known) > KNOWN_STEMS_MAX:
            known.clear()
        known.update(found)

    uow.after_commit(remember)


async def _clause_weights(uow: UnitOfWork, parsed: query.ParsedQuery) -> list[tuple[Sequence[str], float]]:
    """(the clause's alternatives as tsqueries, the clause's BM25 IDF) for PostgreSQL's
    re-scoring. Document frequencies are counted once per clause and kept per process for
    ``DF_TTL`` seconds: they drift slowly, and counting a common stem's matches on every search
    is what made IDF too slow before (ADR 0032)."""
    alternatives = query.tsquery_alternatives(parsed)
    clauses = query.either_of(alternatives)
    cache = _frequencies.setdefault(uow.database, {})
    now = time.monotonic()
    stale = [c for c in dict.fromkeys(clauses) if (hit := cache.get(c)) is None or now - hit[0] > DF_TTL]
    if stale:
        # The number of articles is kept like the frequencies (under the key "", which no clause
        # is): counting all 10,000 rows was 1.5-3 ms of every statement that counted new clauses.
        known = cache.get(_ALL_DOCS)
        fresh = known[1] if known is not None and now - known[0] <= DF_TTL else None
        total, counts = await repository.document_frequencies(uow, stale, total=fresh)
        if len(cache) > DF_CACHE_MAX:
            cache.clear()
        if fresh is None:
            cache[_ALL_DOCS] = (now, total, total)
        for clause, count in zip(stale, counts, strict=True):
            cache[clause] = (now, total, count)
    weights: list[tuple[Sequence[str], float]] = []
    for clause, terms in zip(clauses, alternatives, strict=True):
        _, total, count = cache[clause]
        weights.append((terms, math.log(1 + (total - count + 0.5) / (count + 0.5))))
    return weights


async def _find(
    uow: UnitOfWork,
    text: str,
    parsed: query.ParsedQuery,
    scope: Scope,
    limit: int,
    index: semantic.VectorIndex,
    encoding: asyncio.Task[NDArray[np.float32]] | None,
) -> tuple[list[tuple[KbArticle, float]], int]:
    """(article, score) best first, and how many articles the full-text ranking matched.

    ``encoding`` is the query's vector already being computed, when every query is encoded;
    otherwise it is encoded here only if full-text has no clear winner.
    """
    expression = query.fts5_expression(parsed) if uow.is_sqlite else query.tsquery_expression(parsed)
    # One clause's IDF scales every score alike: its order, and the fusion's shares of the best
    # score, are those of ts_rank, so neither its document frequency nor the re-scoring is needed.
    idf = semantic.ENABLED and not uow.is_sqlite and len(parsed.clauses) > 1
    weighted = await _clause_weights(uow, parsed) if idf else []
    if index.empty:
        found = await repository.search(uow, expression, scope, limit=limit, weighted=weighted)
        return found, len(found)
    wide = max(limit, LEXICAL_CANDIDATES)
    lexical = await repository.rank_ids(uow, expression, scope, limit=wide, weighted=weighted)
    # The query is encoded only when full-text is unsure: encoding is most of what re-ranking
    # costs, and a clear full-text winner stays first after the fusion anyway.
    sure = encoding is None and semantic.clear_winner(lexical)
    vector = None
    if not sure:
        try:
            vector = await (encoding or semantic.query_vector(semantic.embedder(), text))
        except Exception:
            # A broken encoder must not break search: the full-text ranking alone is an answer.
            _log.exception("kb search: the query encoder failed; full-text ranking only")
    else:
        semantic.STATS.skipped += 1
    if vector is None:
        shown = await repository.articles_by_ids(uow, [article_id for article_id, _ in lexical[:limit]])
        return [(shown[i], score) for i, score in lexical[:limit] if i in shown], len(lexical)
    near, of_matched = index.nearest(vector, scope.language, [article_id for article_id, _ in lexical])
    floor = MIN_SIMILARITY if not lexical else MIN_SIMILARITY_BESIDE
    similar = {i: s for i, s in near.items() if s >= floor} | of_matched
    ranked = semantic.fuse(lexical, similar)
    # Vectors know nothing of status or visibility: the fetch keeps what the scope allows. The
    # page is read first and the next page only when the scope left it short (an agent-only or
    # archived article among the nearest): reading and building twice the page on every search
    # was a tenth of its CPU, for rows almost never shown.
    wanted = [article_id for article_id, _ in ranked]
    articles = await repository.articles_in_scope(uow, wanted[:limit], scope)
    if len(articles) < limit and len(wanted) > limit:
        articles |= await repository.articles_in_scope(uow, wanted[limit : 2 * limit], scope)
    return [(articles[i], score) for i, score in ranked if i in articles][:limit], len(lexical)


async def search(
    uow: UnitOfWork,
    text: str,
    *,
    scope: Scope,
    limit: int = 10,
    source: str = "portal",
    log: bool = True,
    prefix_last: bool = False,
) -> SearchResult:
    """Articles matching ``text`` best first, with highlighted titles and snippets.

    Never fails on what was typed: an empty or all-punctuation query finds nothing, anything else
    is reduced to stemmed words. ``log`` records the search for content gaps.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    groups = await _synonym_groups(uow)
    parsed = query.parse(text, synonyms=groups, prefix_last=prefix_last)
    result = SearchResult(query=text[:300])
    if parsed.empty:
        return result
    index = (
        await semantic.vector_index(uow, semantic.embedder().name)
        if semantic.ENABLED
        else semantic.NO_VECTORS
    )
    # When every query is encoded, the encoding runs in a thread while the full-text statements
    # run; with the clear-winner gate on, it waits for them (an unwanted encoding still burns CPU).
    encoding = (
        asyncio.create_task(semantic.query_vector(semantic.embedder(), text))
        if not index.empty and math.isinf(semantic.CLEAR_WINNER)
        else None
    )
    try:
        if len(parsed.clauses) <= TYPO_MAX_WORDS:
            result.corrections = await _corrections(uow, parsed)
            parsed = query.with_corrections(parsed, result.corrections)
        found, matched = await _find(uow, text, parsed, scope, limit, index, encoding)
        if not matched and not result.corrections and len(parsed.clauses) > TYPO_MAX_WORDS:
            result.corrections = await _corrections(uow, parsed)
            if result.corrections:
                parsed = query.with_corrections(parsed, result.corrections)
                found, matched = await _find(uow, text, parsed, scope, limit, index, encoding)
    finally:
        if encoding is not None and not encoding.done():
            encoding.cancel()
    marker = highlight.Highlighter(parsed.stems(), parsed.prefixes())
    for article, score in found:
        result.hits.append(
            Hit(
                article=article,
                score=score,
                title_html=marker.mark(article.title),
                snippet_html=marker.snippet(article.body_text),
            )
        )
    if not log:
        # The log row's INSERT puts the planner settings back itself, with no round trip of its own.
        await repository.restore_plan(uow)
    else:
        result.search_id = await repository.log_search(
            uow,
            {
                "query": _CONTROL.sub(" ", fold(text))[:300],
                "normalized": parsed.normalized,
                "language": scope.language,
                "source": source if source in SOURCES else "api",
                "result_count": len(found),
                "created_at": utcnow(),
            },
        )
    return result


async def suggest_for_widget(
    uow: UnitOfWork, text: str, *, language: str | None, limit: int = 5
) -> SearchResult:
    """Published public articles while a visitor types: the last word counts as a prefix. Not
    logged: half-typed words are not content gaps; the search the visitor submits is."""
    return await search(
        uow, text, scope=public_scope(language), limit=limit, source="widget", log=False, prefix_last=True
    )


async def suggest_for_ticket(
    uow: UnitOfWork, principal: Principal, ticket_id: int, *, limit: int = 5
) -> SearchResult:
    """Published articles (internal ones too) answering a ticket: its subject and the customer's
    latest messages are the query."""
    ticket = await visible_ticket(uow, principal, ticket_id)
    texts = [ticket.subject, *await repository.ticket_texts(uow, ticket_id)]
    language = ticket.language if ticket.language in ("ru", "en") else None
    text = "\n".join(t for t in texts if t)
    return await search(uow, text, scope=agent_scope(language), limit=limit, source="agent", log=False)


async def record_click(uow: UnitOfWork, search_id: int, article_id: int) -> None:
    """The visitor opened a result: that search is not a content gap."""
    found = await repository.articles_by_ids(uow, [article_id])
    if article_id not in found or not found[article_id].public:
        raise InvalidInput(f"Article {article_id} does not exist.", field="article_id")
    if not await repository.record_click(uow, search_id, article_id):
        raise NotFound(f"Search {search_id} does not exist.")


def _clean_phrases(phrases: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(p.strip() for p in phrases if p.strip()))
    if len({tuple(stems(p)) for p in cleaned if stems(p)}) < 2:
        raise InvalidInput("A synonym group needs at least two different words or phrases.", field="phrases")
    return cleaned


async def list_synonyms(uow: UnitOfWork) -> list[KbSynonym]:
    return await repository.synonyms(uow)


async def create_synonym(uow: UnitOfWork, principal: Principal, phrases: Sequence[str]) -> KbSynonym:
    now = utcnow()
    row = KbSynonym(
        phrases=_clean_phrases(phrases), created_by=principal.agent_id, created_at=now, updated_at=now
    )
    uow.session.add(row)
    await uow.session.flush()
    _forget_synonyms_after_commit(uow)
    return row


async def update_synonym(uow: UnitOfWork, synonym_id: int, phrases: Sequence[str]) -> KbSynonym:
    row = await repository.synonym(uow, synonym_id)
    if row is None:
        raise NotFound(f"Synonym group {synonym_id} does not exist.")
    row.phrases = _clean_phrases(phrases)
    row.updated_at = utcnow()
    await uow.session.flush()
    _forget_synonyms_after_commit(uow)
    return row


async def delete_synonym(uow: UnitOfWork, synonym_id: int) -> None:
    row = await repository.synonym(uow, synonym_id)
    if row is None:
        raise NotFound(f"Synonym group {synonym_id} does not exist.")
    await repository.delete_synonym(uow, row)
    _forget_synonyms_after_commit(uow)
