"""All SQL of knowledge-base search: the two full-text backends, the vocabulary, synonyms, the log.

SQLite: an FTS5 table ``kb_fts`` with ``kb_search_docs`` as its external content, kept in step by
triggers. It is created on first use rather than by the migration because FTS5's shadow tables
are invisible to the models, and the models-versus-migrations check would flag them; it is a
derived index, rebuilt from ``kb_search_docs`` whenever it has to be created.
PostgreSQL: ``kb_search_docs.tsv`` (title weight A, body B) under a GIN index.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from opora.db import UnitOfWork
from opora.kb.models import (
    ArticleStatus,
    KbArticle,
    KbArticleVector,
    KbSearchDoc,
    KbSearchLog,
    KbSynonym,
    KbTerm,
)
from opora.tickets.models import Direction, Message

FTS_TABLE = "kb_fts"
_FTS_DDL = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, content='kb_search_docs', "
    "content_rowid='article_id', tokenize='unicode61 remove_diacritics 0', prefix='4 5')",
    """CREATE TRIGGER kb_fts_ai AFTER INSERT ON kb_search_docs BEGIN
        INSERT INTO kb_fts(rowid, title, body) VALUES (new.article_id, new.title, new.body);
    END""",
    """CREATE TRIGGER kb_fts_ad AFTER DELETE ON kb_search_docs BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, body)
        VALUES ('delete', old.article_id, old.title, old.body);
    END""",
    """CREATE TRIGGER kb_fts_au AFTER UPDATE ON kb_search_docs BEGIN
        INSERT INTO kb_fts(kb_fts, rowid, title, body)
        VALUES ('delete', old.article_id, old.title, old.body);
        INSERT INTO kb_fts(rowid, title, body) VALUES (new.article_id, new.title, new.body);
    END""",
    "INSERT INTO kb_fts(kb_fts) VALUES ('rebuild')",
)
# prefix='4 5': every word is matched by the first five letters of its stem (four for short ones).
_READY: weakref.WeakSet[Engine] = weakref.WeakSet()

# Title matches weigh this much more than body matches (tuned on the benchmark's train split).
TITLE_WEIGHT = 3.0
# ts_rank's weights {D, C, B, A}: body B, title A. A title match counts twice a body match
# (it was 1.0, 3.3 times): with 0.45 / 0.6 / 0.8 / 1.0, ru train+validation recall@3 (starter
# synonyms on) 0.879 / 0.871 / 0.871 / 0.857, en (a third of validation) 0.944 / 0.950 / 0.950 /
# 0.953. A common word in a title («заказ») outweighed the rare word that named the topic.
_PG_WEIGHTS = "{0.1, 0.2, 0.3, 0.6}"
# ts_rank's normalisation flags: 1 divides the rank by 1 + log(document length).
PG_NORMALIZATION = 1
# ts_rank's best this many are scored again with IDF weights (PostgreSQL).
RESCORED = 50


@dataclass(frozen=True, slots=True)
class Scope:
    """Which articles a search may return."""

    language: str | None
    statuses: tuple[str, ...] = (ArticleStatus.PUBLISHED,)
    include_internal: bool = False


async def ensure_index(uow: UnitOfWork) -> None:
    if not uow.is_sqlite:
        return
    engine = uow.database.engine.sync_engine
    if engine in _READY:
        return
    exists = await uow.session.scalar(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": FTS_TABLE}
    )
    if not exists:
        for statement in _FTS_DDL:
            await uow.session.execute(text(statement))
    _READY.add(engine)


async def save_doc(uow: UnitOfWork, article: KbArticle, *, title: str, body: str) -> None:
    await ensure_index(uow)
    changed: dict[str, Any] = {
        "title": title,
        "body": body,
        "language": article.language,
        "status": str(article.status),
        "internal": bool(article.internal),
    }
    values: dict[str, Any] = {"article_id": article.id, **changed}
    if uow.is_sqlite:
        stmt = sqlite_insert(KbSearchDoc).values(**values)
        await uow.session.execute(stmt.on_conflict_do_update(index_elements=["article_id"], set_=changed))
        return
    # setweight() takes a "char", which a bound VARCHAR does not cast to implicitly.
    tsv = func.setweight(func.to_tsvector("simple", title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector("simple", body), literal_column("'B'"))
    )
    pg = pg_insert(KbSearchDoc).values(**values, tsv=tsv)
    await uow.session.execute(
        pg.on_conflict_do_update(index_elements=["article_id"], set_={**changed, "tsv": pg.excluded.tsv})
    )


async def add_terms(uow: UnitOfWork, terms: Iterable[str]) -> None:
    rows = [{"term": t, "head": t[0], "length": len(t)} for t in sorted(set(terms)) if 0 < len(t) <= 100]
    if not rows:
        return
    insert = sqlite_insert if uow.is_sqlite else pg_insert
    for start in range(0, len(rows), 500):
        await uow.session.execute(insert(KbTerm).values(rows[start : start + 500]).on_conflict_do_nothing())


def _near(word: str, spread: int) -> ColumnElement[bool]:
    # Narrowed to stems that also share the second or the last letter: a typo of at most two
    # edits rarely changes both, and it spares checking thousands of stems in Python.
    return and_(
        KbTerm.head == word[0],
        KbTerm.length.between(len(word) - spread, len(word) + spread),
        or_(
            func.substr(KbTerm.term, 2, 1) == word[1:2],
            func.substr(KbTerm.term, KbTerm.length, 1) == word[-1],
        ),
    )


def is_near(term: str, word: str, spread: int) -> bool:
    """The same test as the SQL narrowing above, for picking one word's candidates out of a
    look-up made for several."""
    return (
        term[:1] == word[:1]
        and abs(len(term) - len(word)) <= spread
        and (term[1:2] == word[1:2] or term[-1:] == word[-1:])
    )


async def vocabulary_for(uow: UnitOfWork, known: Iterable[str], near: dict[str, int]) -> set[str]:
    """In one statement: which of ``known`` are indexed stems, and the indexed stems a typo of
    each word in ``near`` (word → edit spread) could stand for."""
    wanted = sorted(set(known))
    conditions: list[ColumnElement[bool]] = [KbTerm.term.in_(wanted)] if wanted else []
    conditions += [_near(word, spread) for word, spread in near.items()]
    if not conditions:
        return set()
    query = select(KbTerm.term).where(or_(*conditions)).limit(5_000 * max(1, len(near)))
    return set((await uow.session.scalars(query)).all())


def _filters(scope: Scope, on: type[KbSearchDoc] | type[KbArticle]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [on.status.in_([str(s) for s in scope.statuses])]
    if not scope.include_internal:
        where.append(on.internal.is_(False))
    if scope.language:
        where.append(on.language == scope.language)
    return where


_FTS = table(FTS_TABLE, column("rowid"))


def _ranked(scope: Scope, *, is_sqlite: bool) -> Select[Any]:
    """(article id, score) of the full-text matches in scope, best first; higher is better."""
    score: ColumnElement[Any]
    if is_sqlite:
        # Only a constant is formatted in; the expression travels as a bound parameter. The docs'
        # visibility copies are read from their covering index, never from the table's rows
        # (their long stemmed texts come first and spill onto overflow pages).
        score = literal_column(f"-bm25({FTS_TABLE}, {float(TITLE_WEIGHT)}, 1.0)")
        return (
            select(KbSearchDoc.article_id.label("id"), score.label("score"))
            .join(_FTS, _FTS.c.rowid == KbSearchDoc.article_id)
            .where(literal_column(FTS_TABLE).op("MATCH")(bindparam("expression", type_=String)))
            .where(*_filters(scope, KbSearchDoc))
            .order_by(literal_column("score").desc(), KbSearchDoc.article_id)
        )
    tsquery = func.to_tsquery(literal_column("'simple'"), bindparam("expression", type_=String))
    score = func.ts_rank(literal_column(f"'{_PG_WEIGHTS}'"), KbSearchDoc.tsv, tsquery, PG_NORMALIZATION)
    # Filtered on the articles, not on the docs' copies: given those columns, the planner
    # (underestimating a prefix match) scanned their index in full instead of the GIN index,
    # 60 ms instead of 2; an article's short columns are cheap to read here (TOAST).
    return (
        select(KbSearchDoc.article_id.label("id"), score.label("score"))
        .join(KbArticle, KbArticle.id == KbSearchDoc.article_id)
        .where(KbSearchDoc.tsv.op("@@")(tsquery), *_filters(scope, KbArticle))
        .order_by(literal_column("score").desc(), KbSearchDoc.article_id)
    )


# PostgreSQL's planner settings for a search's full-text statements. On the GIN index a ranking
# reads only the matches (1-3 ms at 10,000 articles); but for a query of several prefix clauses
# the planner overestimates the index's cost and runs `@@` and ts_rank over every document
# instead: a parallel sequential scan (40 of the bench's 145 re-ranked ranking statements, 53 of
# its 165 full-text ones, ~55 ms each against ~1 ms under load), or with that disabled a full
# scan of the primary key, or a hash join reading every article of the language. That was issue
# 7's PostgreSQL tail. Set once per search transaction, before its first full-text statement,
# and put back (``restore_plan``) when the search is done, so the caller's later statements
# plan as before.
_PLAN_SETTINGS = ("enable_seqscan", "enable_indexscan", "enable_hashjoin")
_PLANNED = "kb_search_planned"
# Target-list expressions run left to right: each setting is read before any is changed.
_PG_PLAN = "SELECT {}, {}".format(
    ", ".join(f"current_setting('{name}')" for name in _PLAN_SETTINGS),
    ", ".join(f"set_config('{name}', 'off', true)" for name in _PLAN_SETTINGS),
)


async def _plan_with_index(uow: UnitOfWork) -> None:
    """Keeps this transaction's full-text statements on the GIN index (PostgreSQL)."""
    if uow.is_sqlite or _PLANNED in uow.state:
        return
    row = (await uow.session.execute(text(_PG_PLAN))).one()
    uow.state[_PLANNED] = dict(zip(_PLAN_SETTINGS, row[: len(_PLAN_SETTINGS)], strict=True))


def _restoring(uow: UnitOfWork) -> list[ColumnElement[Any]]:
    """set_config() calls putting back what ``_plan_with_index`` changed (none if nothing was)."""
    saved: dict[str, str] = uow.state.pop(_PLANNED, None) or {}
    return [
        func.set_config(literal_column(f"'{name}'"), bindparam(f"was_{name}", value), True)
        for name, value in saved.items()
    ]


async def restore_plan(uow: UnitOfWork) -> None:
    """Puts back the planner settings a search changed, for the rest of the caller's transaction."""
    restoring = _restoring(uow)
    if restoring:
        await uow.session.execute(select(*restoring))


async def search(
    uow: UnitOfWork,
    expression: str,
    scope: Scope,
    *,
    limit: int,
    weighted: Sequence[tuple[Sequence[str], float]] = (),
) -> list[tuple[KbArticle, float]]:
    """(article, score) best first; a higher score is better on both backends. ``weighted``
    (PostgreSQL only) re-scores the matches as ``rank_ids`` does.

    The ranking reads only the index and the docs' copies of visibility (SQLite); the articles
    themselves are read for the few ids that made the cut (reading them for every match, to
    filter and to carry their text through the sort, was about a third of the statement's SQL
    time at 10,000 articles, and more for queries matching thousands).
    """
    rows = await _ranking_rows(uow, "articles", expression, scope, limit, weighted)
    return [(row[0], float(row[1])) for row in rows]


async def rank_ids(
    uow: UnitOfWork,
    expression: str,
    scope: Scope,
    *,
    limit: int,
    weighted: Sequence[tuple[Sequence[str], float]] = (),
) -> list[tuple[int, float]]:
    """The full-text ranking's top ``limit`` as (id, score), no article read.

    ``weighted`` (PostgreSQL only): (a clause's alternatives as tsqueries, its IDF) pairs.
    ts_rank knows no document frequencies, so a common word («заказ») counts as much as a rare
    one («крепеж»); the ``RESCORED`` best by ts_rank are scored again as the IDF-weighted sum of
    each clause's ts_rank (BM25's idea, as SQLite's bm25 has it), which costs a few ts_rank calls
    on those rows only.
    """
    rows = await _ranking_rows(uow, "ids", expression, scope, limit, weighted)
    return [(int(row[0]), float(row[1])) for row in rows]


async def _ranking_rows(
    uow: UnitOfWork,
    kind: str,
    expression: str,
    scope: Scope,
    limit: int,
    weighted: Sequence[tuple[Sequence[str], float]],
) -> list[Any]:
    """Runs the ``kind`` statement of ``_statement`` for one query (``search`` and ``rank_ids``)."""
    if uow.is_sqlite:
        await ensure_index(uow)
    await _plan_with_index(uow)
    rescored = bool(weighted) and not uow.is_sqlite
    values = {"expression": expression, "limit": limit, **(_weighted_values(weighted) if rescored else {})}
    return list((await uow.session.execute(_statement(kind, scope, uow.is_sqlite, rescored), values)).all())


# Built statements by what shapes them. Building a ranking statement (joins, filters, the
# re-scoring's CTE and unnest) cost more client CPU than running it: ~2.5 of the ~3.9 ms a
# re-ranked PostgreSQL search spent in its ranking call (10,000 articles, bench/kb_search.py).
# The query's text, the limit and the re-scoring's arrays are bound at execution, so one object
# serves every query of a scope.
_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}
STATEMENTS_MAX = 64


def _statement(kind: str, scope: Scope, is_sqlite: bool, rescored: bool) -> Select[Any]:
    """``ids``: (id, score) of the best matches; ``articles``: (article, score) of them."""
    # The weights are module settings the benchmarks and tests change, so they are in the key.
    key = (kind, scope, is_sqlite, rescored, TITLE_WEIGHT, _PG_WEIGHTS, PG_NORMALIZATION, RESCORED)
    stmt = _STATEMENTS.get(key)
    if stmt is not None:
        return stmt
    ranking = _weighted(scope) if rescored else _ranked(scope, is_sqlite=is_sqlite)
    stmt = ranking.limit(bindparam("limit", type_=Integer))
    if kind == "articles":
        # The winners' articles join the ranking from outside its LIMIT: one statement, and only
        # the few articles shown are read and built.
        top = stmt.subquery("ranked")
        stmt = (
            select(KbArticle, top.c.score)
            .join(top, top.c.id == KbArticle.id)
            .order_by(top.c.score.desc(), KbArticle.id)
        )
    if len(_STATEMENTS) >= STATEMENTS_MAX:
        _STATEMENTS.clear()
    _STATEMENTS[key] = stmt
    return stmt


def _weighted_values(weighted: Sequence[tuple[Sequence[str], float]]) -> dict[str, Any]:
    """The parameters of ``_weighted``: every alternative of every clause, its clause's number
    and IDF, as three parallel arrays."""
    numbers = [n for n, (alternatives, _) in enumerate(weighted) for _ in alternatives]
    return {
        "clause_numbers": numbers,
        "alternatives": [a for alternatives, _ in weighted for a in alternatives],
        "idfs": [weighted[n][1] for n in numbers],
    }


def _weighted(scope: Scope) -> Select[Any]:
    """The IDF re-scoring of ``rank_ids`` as one statement whose text depends on the scope alone.

    The clauses' alternatives and weights travel as three parallel arrays, unnested beside the
    ``RESCORED`` best rows: a statement with one term per alternative was a new shape for every
    query length, which the client built and compiled and PostgreSQL planned on every search.
    """
    # RESCORED is not below service.MAX_LIMIT, so a page is never cut short here.
    matched = (
        _ranked(scope, is_sqlite=False)
        .add_columns(KbSearchDoc.tsv.label("tsv"))
        .limit(RESCORED)
        .cte("matched")
    )
    alternatives = (
        func.unnest(
            bindparam("clause_numbers", type_=ARRAY(Integer)),
            bindparam("alternatives", type_=ARRAY(Text)),
            bindparam("idfs", type_=ARRAY(Float)),
        )
        .table_valued("clause", "alternative", "idf")
        .render_derived(name="alternative")
    )
    rank = func.ts_rank(
        literal_column(f"'{_PG_WEIGHTS}'"),
        matched.c.tsv,
        func.to_tsquery(literal_column("'simple'"), alternatives.c.alternative),
        PG_NORMALIZATION,
    )
    # A clause scores as its best alternative: ts_rank of the whole clause divides by how many
    # words it holds, so a synonym group's four phrases counted a quarter of a plain word.
    clauses = (
        select(matched.c.id, (func.max(rank) * func.max(alternatives.c.idf)).label("best"))
        .select_from(matched.join(alternatives, literal_column("true")))
        .group_by(matched.c.id, alternatives.c.clause)
        .subquery("clauses")
    )
    score = func.sum(clauses.c.best).label("score")
    return select(clauses.c.id, score).group_by(clauses.c.id).order_by(score.desc(), clauses.c.id)


async def document_frequencies(
    uow: UnitOfWork, clauses: Sequence[str], *, total: int | None = None
) -> tuple[int, list[int]]:
    """How many indexed articles there are (``total`` when the caller knows it) and how many
    match each clause (PostgreSQL). Planned as PostgreSQL likes: one clause's count is a GIN
    bitmap anyway, and all the rows' count is cheaper by a sequential scan."""
    everything = select(func.count()).select_from(KbSearchDoc)
    if not clauses:
        return (total if total is not None else int(await uow.session.scalar(everything) or 0)), []
    # One statement text for any number of clauses (an array, unnested in order): a new shape
    # per query length was compiled by the client and planned by the server every time.
    clause = (
        func.unnest(bindparam("clauses", list(clauses), type_=ARRAY(Text)))
        .table_valued("clause", with_ordinality="position")
        .render_derived(name="clause")
    )
    matching = (
        select(func.count())
        .select_from(KbSearchDoc)
        .where(KbSearchDoc.tsv.op("@@")(func.to_tsquery(literal_column("'simple'"), clause.c.clause)))
        .scalar_subquery()
    )
    columns = [matching]
    if total is None:
        columns.append(everything.scalar_subquery())
    counted = select(*columns).select_from(clause).order_by(clause.c.position)
    rows = (await uow.session.execute(counted)).all()
    if total is None:
        total = int(rows[0][1]) if rows else 0
    return total, [int(row[0]) for row in rows]


async def articles_in_scope(uow: UnitOfWork, ids: Sequence[int], scope: Scope) -> dict[int, KbArticle]:
    """The given articles that the scope lets a search return."""
    if not ids:
        return {}
    query = select(KbArticle).where(KbArticle.id.in_(list(ids)), *_filters(scope, KbArticle))
    return {row.id: row for row in (await uow.session.scalars(query)).all()}


async def save_vector(uow: UnitOfWork, article: KbArticle, encoder: str, vector: bytes) -> None:
    values = {"language": article.language, "encoder": encoder, "vector": vector}
    insert_ = sqlite_insert if uow.is_sqlite else pg_insert
    stmt = insert_(KbArticleVector).values(article_id=article.id, revision=1, **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["article_id"], set_={**values, "revision": KbArticleVector.revision + 1}
        )
    )


async def articles_without_vector(
    uow: UnitOfWork, encoder: str, *, after_id: int = 0, limit: int
) -> list[KbArticle]:
    """Articles, by id, that have no vector of ``encoder`` (none yet, or another encoder's)."""
    has_vector = (
        select(KbArticleVector.article_id)
        .where(KbArticleVector.article_id == KbArticle.id, KbArticleVector.encoder == encoder)
        .exists()
    )
    query = select(KbArticle).where(KbArticle.id > after_id, ~has_vector).order_by(KbArticle.id).limit(limit)
    return list((await uow.session.scalars(query)).all())


async def vectors_stamp(uow: UnitOfWork, encoder: str) -> tuple[int, int]:
    """Changes whenever a vector of this encoder is written or deleted: (count, sum of revisions)."""
    row = (
        await uow.session.execute(
            select(func.count(), func.coalesce(func.sum(KbArticleVector.revision), 0)).where(
                KbArticleVector.encoder == encoder
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def vectors(uow: UnitOfWork, encoder: str) -> list[tuple[int, str, bytes]]:
    query = select(KbArticleVector.article_id, KbArticleVector.language, KbArticleVector.vector).where(
        KbArticleVector.encoder == encoder
    )
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in (await uow.session.execute(query)).all()]


async def articles_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, KbArticle]:
    if not ids:
        return {}
    rows = (await uow.session.scalars(select(KbArticle).where(KbArticle.id.in_(list(ids))))).all()
    return {row.id: row for row in rows}


async def synonyms(uow: UnitOfWork) -> list[KbSynonym]:
    return list((await uow.session.scalars(select(KbSynonym).order_by(KbSynonym.id))).all())


async def synonym(uow: UnitOfWork, synonym_id: int) -> KbSynonym | None:
    return await uow.session.get(KbSynonym, synonym_id)


async def delete_synonym(uow: UnitOfWork, row: KbSynonym) -> None:
    await uow.session.delete(row)
    await uow.session.flush()


# PostgreSQL: a search transaction whose first write is its log row commits without waiting
# for the WAL flush (synchronous_commit off for this transaction only). The flush was ~4 ms of
# every logged search's wall time, with spikes of tens of ms on a busy disk, for a row that only
# feeds the content-gap report. PostgreSQL writes it out within wal_writer_delay (200 ms); a
# server crash in that window may lose it, never a normal shutdown, and never half of it. A
# transaction that already wrote something (an xid is assigned) keeps its synchronous commit.
_PG_ASYNC_COMMIT = (
    "SELECT set_config('synchronous_commit', CASE WHEN txid_current_if_assigned() IS NULL "
    "THEN 'off' ELSE current_setting('synchronous_commit') END, true) AS async_commit"
)


async def log_search(uow: UnitOfWork, values: dict[str, Any]) -> int:
    # A Core INSERT ... RETURNING on the session's connection rather than an ORM add + flush or
    # an ORM-enabled insert: it is on every portal search, and the ORM layers cost more than it.
    connection = await uow.session.connection()
    if uow.is_sqlite:
        stmt = insert(KbSearchLog).values(**values)
    else:
        # The setting, and putting back the search's planner settings, ride in the INSERT itself
        # (its FROM runs before the row is written, so before the insert takes an xid): no
        # extra round trip.
        setting = select(
            text(_PG_ASYNC_COMMIT).columns(column("async_commit")).subquery("commit"), *_restoring(uow)
        ).subquery("setting")
        names = list(values)
        row = select(
            *(bindparam(name, values[name], type_=KbSearchLog.__table__.c[name].type) for name in names)
        )
        stmt = insert(KbSearchLog).from_select(names, row.select_from(setting))
    inserted = await connection.scalar(stmt.returning(KbSearchLog.id))
    return int(inserted or 0)


async def record_click(uow: UnitOfWork, search_id: int, article_id: int) -> bool:
    result = await uow.session.execute(
        update(KbSearchLog).where(KbSearchLog.id == search_id).values(clicked_article_id=article_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def unanswered_searches(uow: UnitOfWork, *, since: datetime, limit: int) -> list[tuple[Any, ...]]:
    """Searches grouped by normalised query: how often, how often without a result or a click."""
    no_result = func.sum(case((KbSearchLog.result_count == 0, 1), else_=0))
    no_click = func.sum(case((KbSearchLog.clicked_article_id.is_(None), 1), else_=0))
    query = (
        select(
            KbSearchLog.normalized,
            func.min(KbSearchLog.query),
            func.count(),
            no_result,
            no_click,
            func.max(KbSearchLog.created_at),
        )
        .where(KbSearchLog.created_at >= since, KbSearchLog.normalized != "")
        .group_by(KbSearchLog.normalized)
        .having(no_click > 0)
        .order_by(no_click.desc(), func.count().desc(), KbSearchLog.normalized)
        .limit(limit)
    )
    return [tuple(row) for row in (await uow.session.execute(query)).all()]


async def purge_log(uow: UnitOfWork, *, before: datetime) -> int:
    result = await uow.session.execute(delete(KbSearchLog).where(KbSearchLog.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def ticket_texts(uow: UnitOfWork, ticket_id: int, *, limit: int = 3) -> list[str]:
    """The customer's latest messages on a ticket, newest first: what an article should answer."""
    query = (
        select(Message.text)
        .where(
            Message.ticket_id == ticket_id, Message.direction == Direction.IN, Message.is_internal.is_(False)
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list((await uow.session.scalars(query)).all())
