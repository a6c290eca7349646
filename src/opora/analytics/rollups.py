"""Per-hour counts of the ticket facts (``ticket_fact_hours``): kept with the facts, read by reports.

A count or rate report over a long span would read one fact per ticket; these sums hold, per UTC
hour, kind of fact and value of one slice dimension, how many facts there are and how many meet
their condition. A report reads the whole hours of its span here and only the part hours at its
two ends from the facts (see ``analytics/repository.py``), so its numbers are the facts' numbers.

Why hours and one dimension per row: the desk's periods (day, ISO week, month) are local days,
and a time zone of whole hours puts every local period on UTC hour boundaries; a row per
combination of all six dimensions would be about one row per fact, while one dimension per row
keeps a day of a team to a few rows. A report that filters on a dimension other than the one it
slices by, or slices by segment (the customer's now), reads the facts instead.

Durations keep reading the facts: an exact median needs every value, and a histogram of an hour
holds no fewer rows than its facts at the volumes where it would matter (ADR 33).

Writers change the counts by the difference between a ticket's old and new facts, in the same
transaction and in key order (so two writers never wait on each other in a cycle); the rebuild
recounts everything from the facts while holding off writers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, Table, cast, delete, func, literal, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from opora.analytics.definitions import PERIODS, Dimension, Filters, Metric
from opora.analytics.models import TicketFact, TicketFactHour
from opora.db import UTCDateTime

SOLVE = "solve"
# Slice dimension of a row -> the fact's column; ``total`` rows count every fact once.
DIMS: dict[str, str | None] = {
    "total": None,
    "team": "team_id",
    "agent": "assignee_id",
    "channel": "channel_type",
    "topic": "topic",
    "priority": "priority",
}
_TABLE: Table = TicketFactHour.__table__  # type: ignore[assignment]
_SUMS = ("n", "hits", "contact_n", "contact_hits")

Key = tuple[str, str, datetime, str]  # kind, dim, hour, key


class hour_of(FunctionElement[datetime]):
    """The start of the UTC hour holding an instant, stored as the column type stores instants."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(hour_of)
def _hour_pg(element: hour_of, compiler: Any, **kw: Any) -> str:
    (at,) = list(element.clauses)
    return f"(date_trunc('hour', {compiler.process(at, **kw)} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


@compiles(hour_of, "sqlite")
def _hour_sqlite(element: hour_of, compiler: Any, **kw: Any) -> str:
    (at,) = list(element.clauses)
    # The text SQLAlchemy stores a DateTime as on SQLite, cut to the hour.
    return f"strftime('%Y-%m-%d %H:00:00.000000', {compiler.process(at, **kw)})"


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def key_text(value: Any) -> str:
    return "" if value is None else str(value)


def counted(kind: str, until: datetime | None) -> bool:
    """A solve counts here only while final; a superseded one is read from the facts."""
    return kind != SOLVE or until is None


# -- keeping the counts with the facts ------------------------------------------------------------


def _counts(rows: Iterable[Any]) -> dict[Key, list[int]]:
    found: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        if not counted(r.kind, r.until):
            continue
        contact = r.first_contact
        add = (1, int(r.ok), int(contact is not None), int(contact or 0))
        hour = hour_start(r.at)
        for dim, column in DIMS.items():
            sums = found[(r.kind, dim, hour, "" if column is None else key_text(getattr(r, column)))]
            for i, v in enumerate(add):
                sums[i] += v
    return found


def changes(old: Iterable[Any], new: Iterable[Any]) -> list[tuple[Key, list[int]]]:
    """What the counts gain from replacing the facts ``old`` by ``new``: non-zero, in key order."""
    before, after = _counts(old), _counts(new)
    result = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, [0, 0, 0, 0]), after.get(key, [0, 0, 0, 0])
        delta = [y - x for x, y in zip(a, b, strict=True)]
        if any(delta):
            result.append((key, delta))
    return result


async def apply(session: AsyncSession, deltas: Sequence[tuple[Key, list[int]]]) -> None:
    if not deltas:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "dim", "hour", "key"],
        set_={name: _TABLE.c[name] + statement.excluded[name] for name in _SUMS},
    )
    params = [
        {"kind": k[0], "dim": k[1], "hour": k[2], "key": k[3], **dict(zip(_SUMS, d, strict=True))}
        for k, d in deltas
    ]
    await session.execute(statement, params)


# -- rebuilding them from the facts ----------------------------------------------------------------


def _recount(dim: str) -> Any:
    F = TicketFact
    column = DIMS[dim]
    key = literal("") if column is None else func.coalesce(cast(getattr(F, column), String), "")
    hour = hour_of(F.at)
    return (
        select(
            F.kind,
            literal(dim),
            hour,
            key,
            func.count(),
            func.sum(F.ok),
            func.count(F.first_contact),
            func.coalesce(func.sum(F.first_contact), 0),
        )
        .where(or_(F.kind != SOLVE, F.until.is_(None)))
        .group_by(F.kind, hour, key)
    )


async def rebuild(session: AsyncSession) -> int:
    """Recount every hour from the facts; returns the rows. Writers of facts wait meanwhile, so
    no change lands between the recount and the commit (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE ticket_facts IN SHARE MODE"))
    await session.execute(delete(TicketFactHour))
    for dim in DIMS:
        await session.execute(
            _TABLE.insert().from_select(["kind", "dim", "hour", "key", *_SUMS], _recount(dim))
        )
    return int(await session.scalar(select(func.count()).select_from(TicketFactHour)) or 0)


async def stored_rows(session: AsyncSession) -> dict[Key, tuple[int, ...]]:
    """Every non-empty stored count (for checks)."""
    T = TicketFactHour
    query = select(T.kind, T.dim, T.hour, T.key, T.n, T.hits, T.contact_n, T.contact_hits).where(T.n != 0)
    return {(r[0], r[1], r[2], r[3]): tuple(r[4:]) for r in await session.execute(query)}


async def recounted_rows(session: AsyncSession) -> dict[Key, tuple[int, ...]]:
    """The counts the facts give now, without storing them (for checks)."""
    found: dict[Key, tuple[int, ...]] = {}
    for dim in DIMS:
        for r in await session.execute(_recount(dim)):
            hour = r[2] if isinstance(r[2], datetime) else datetime.fromisoformat(r[2])
            found[(r[0], r[1], hour_start(hour.replace(tzinfo=hour.tzinfo or UTC)), r[3])] = tuple(
                int(v or 0) for v in r[4:]
            )
    return found


# -- reading them ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Which counts a metric reads: the kind of fact, the column it counts, the one it hits."""

    kind: str
    count: str = "n"
    hits: str | None = None  # None: the metric has no condition
    missed: bool = False  # the condition is the fact's ok being 0 (bot hand-offs)


SOURCES: dict[Metric, Source] = {
    Metric.CREATED: Source("created"),
    Metric.ESCALATION: Source("created", hits="hits"),
    Metric.SOLVED: Source(SOLVE),
    Metric.REOPEN: Source(SOLVE, hits="hits"),
    Metric.FCR: Source(SOLVE, count="contact_n", hits="contact_hits"),
    Metric.SLA_FIRST_RESPONSE: Source("sla_first_response", hits="hits"),
    Metric.SLA_NEXT_RESPONSE: Source("sla_next_response", hits="hits"),
    Metric.SLA_RESOLUTION: Source("sla_resolution", hits="hits"),
    Metric.BOT_RESOLUTION: Source("bot", hits="hits"),
    Metric.BOT_HANDOFF: Source("bot", hits="hits", missed=True),
}

_SLICES: dict[Dimension, str] = {
    Dimension.TEAM: "team",
    Dimension.AGENT: "agent",
    Dimension.CHANNEL: "channel",
    Dimension.TOPIC: "topic",
    Dimension.PRIORITY: "priority",
}


def _filtered(filters: Filters) -> dict[str, tuple[Any, ...]]:
    return {
        dim: values
        for dim, values in (
            ("team", filters.team_ids),
            ("agent", filters.agent_ids),
            ("channel", filters.channel_types),
            ("topic", filters.topics),
            ("priority", filters.priorities),
        )
        if values
    }


@dataclass(frozen=True)
class Plan:
    """How the counts answer one slice of a report: rows of ``dim`` (with ``keys`` only, if
    given) over the whole UTC hours ``first`` .. ``last``; the facts answer the rest."""

    source: Source
    dim: str
    keys: tuple[str, ...] | None
    first: datetime
    last: datetime


def _whole_hours(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether every local period boundary of the span falls on a UTC hour (the zone's offset is
    whole hours throughout: true of Moscow, not of India)."""
    day = start
    while True:
        offset = zone.utcoffset(day.replace(tzinfo=None))
        if offset is None or offset % timedelta(hours=1):
            return False
        if day >= end:
            return True
        day = min(end, day + timedelta(days=1))


def plan(
    metric: Metric, start: datetime, end: datetime, dimension: Dimension, filters: Filters, zone: ZoneInfo
) -> Plan | None:
    """The counts' part of a report, or None when the facts must answer all of it."""
    source = SOURCES.get(metric)
    if source is None or dimension == Dimension.SEGMENT or filters.segments:
        return None
    narrowed = _filtered(filters)
    sliced = _SLICES.get(dimension)
    if sliced is not None:
        if set(narrowed) - {sliced}:
            return None
        dim = sliced
    elif len(narrowed) > 1:
        return None
    else:
        dim = next(iter(narrowed), "total")
    if dimension in PERIODS and not _whole_hours(zone, start, end):
        return None
    first = hour_start(start)
    if first < start:
        first += timedelta(hours=1)
    last = hour_start(end)
    if last <= first:
        return None
    keys = narrowed.get(dim)
    return Plan(source, dim, None if keys is None else tuple(key_text(k) for k in keys), first, last)


def _selected(p: Plan) -> list[Any]:
    T = TicketFactHour
    where = [T.kind == p.source.kind, T.dim == p.dim, T.hour >= p.first, T.hour < p.last]
    if p.keys is not None:
        where.append(T.key.in_(p.keys))
    return where


def _sums(p: Plan) -> tuple[Any, Any]:
    T = TicketFactHour
    count = func.sum(T.__table__.c[p.source.count])
    if p.source.hits is None:
        return count, literal(0)
    hits = func.sum(T.__table__.c[p.source.hits])
    return count, (count - hits if p.source.missed else hits)


async def counts(
    session: AsyncSession, p: Plan, dimension: Dimension, timezone: str
) -> list[tuple[Any, int, int]]:
    """(slice key, count, hits) over the plan's hours: ``key`` is the text of the slice's value
    (None for none), the local period start (naive) on PostgreSQL, or the UTC hour on SQLite,
    which buckets in Python."""
    T = TicketFactHour
    count, hits = _sums(p)
    if dimension in PERIODS:
        if session.get_bind().dialect.name == "postgresql":
            key: Any = func.date_trunc(dimension.value, func.timezone(timezone, T.hour))
        else:
            key = T.hour
    elif dimension == Dimension.TOTAL:
        key = literal("total")
    else:
        key = T.key
    query = select(key, count, hits).where(*_selected(p)).group_by(key)
    found = []
    for row in await session.execute(query):
        value = row[0]
        if dimension in _SLICES and value == "":
            value = None
        found.append((value, int(row[1] or 0), int(row[2] or 0)))
    return found
