"""All SQL of analytics: every metric as a query over the stored ticket facts, and the dashboard.

Each metric is a *facts* query: one row per counted occurrence (a first reply, a final solve, an
SLA clock that ended, ...) with the ticket it belongs to, the instant that places it in a period,
a value (seconds, or a rating), a 0/1 ``ok`` flag for rates, and the ticket's attributes to slice
by. Reports aggregate those rows; drill-down lists their tickets; so a number and the tickets
behind it come from one definition.

The occurrences are rows of ``ticket_facts``, which ``analytics/facts.py`` derives from each
ticket's events in the transaction that records them (ADR 21, amended). Business time is never
recomputed: where an SLA clock measured a span, the seconds it counted, pauses excluded, are used.
What is the desk now (the backlog, SLA clocks still running, the dashboard) reads the live tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    SmallInteger,
    Subquery,
    and_,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from opora.agents.models import Agent, Team
from opora.analytics import facts as fact_kinds
from opora.analytics.definitions import (
    PERIODS,
    SLA_CLOCKS,
    Dimension,
    Filters,
    Metric,
)
from opora.analytics.models import TicketFact
from opora.customers.models import Customer
from opora.db import UTCDateTime
from opora.events.models import TicketEvent
from opora.routing.models import AgentRouting
from opora.sla.models import TicketSla
from opora.tickets.models import Ticket

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
WORKING_STATUSES = ("new", "open")


class seconds_between(FunctionElement[float]):
    """``later - earlier`` in seconds, on either database."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"CAST(EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - "
        f"{compiler.process(earlier, **kw)})) AS DOUBLE PRECISION)"
    )


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"((julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)})) * 86400.0)"
    )


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    now: datetime
    # Whole hours inside the span that the hourly counts answer (analytics/rollups.py): the
    # facts query then reads only the ends of the span, and the solves superseded after it.
    gap: tuple[datetime, datetime] | None = None


def _placed(window: Window) -> ColumnElement[bool]:
    F = TicketFact
    if window.gap is None:
        return and_(F.at >= _at(window.start), F.at < _at(window.end))
    first, last = window.gap
    return or_(
        and_(F.at >= _at(window.start), F.at < _at(first)),
        and_(F.at >= _at(last), F.at < _at(window.end)),
    )


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _segmented(customer_id: Any) -> ColumnElement[bool]:
    """The join to the customer's segment, only where there is one: PostgreSQL then hashes the few
    customers with a segment (a partial index holds them) instead of every customer."""
    return and_(Customer.id == customer_id, Customer.segment.is_not(None))


def _stored(kind: str, window: Window, value: Any, ok: Any, *where: ColumnElement[bool]) -> Select[Any]:
    """The stored facts of one kind placed in the window (see analytics/facts.py); ``where``, when
    given, says which instead.

    The segment is the customer's now, by an outer join on its primary key, which PostgreSQL
    drops from the plan when a report does not slice or filter by segment.
    """
    F = TicketFact
    return (
        select(
            F.ticket_id.label("ticket_id"),
            F.at.label("at"),
            cast(value, Float).label("value"),
            # The stored value's bucket goes only with the stored value (ADR 39).
            (F.bucket if value is F.value else _no_bucket()).label("bucket"),
            cast(ok, Integer).label("ok"),
            F.team_id.label("team_id"),
            F.assignee_id.label("assignee_id"),
            F.channel_type.label("channel_type"),
            F.topic.label("topic"),
            F.priority.label("priority"),
            Customer.segment.label("segment"),
        )
        .select_from(F)
        .outerjoin(Customer, _segmented(F.customer_id))
        .where(F.kind == kind, *(where or (_placed(window),)))
    )


def _no_value() -> ColumnElement[float]:
    return cast(null(), Float)


def _no_bucket() -> ColumnElement[int]:
    return cast(null(), SmallInteger)


# -- metrics as facts ---------------------------------------------------------------------------------


def _final_solves(window: Window, metric: Metric) -> Select[Any]:
    """A ticket's last solve in the window: one row per solved ticket (merged ones have none)."""
    F = TicketFact
    end = _at(window.end)
    counted = and_(_placed(window), or_(F.until.is_(None), F.until >= end))
    if window.gap is not None:
        # The hourly counts hold the final solves of the gap; a solve that a solve after the span
        # superseded still counts, and is found by that later instant.
        counted = or_(
            counted,
            and_(F.until.is_not(None), F.until >= end, F.at >= _at(window.start), F.at < end),
        )
    if metric == Metric.RESOLUTION:
        return _stored(fact_kinds.SOLVE, window, F.value, literal(0), counted)
    if metric == Metric.REOPEN:
        return _stored(fact_kinds.SOLVE, window, _no_value(), F.ok, counted)
    if metric == Metric.FCR:
        # A ticket solved without any reply was not resolved by contact at all.
        return _stored(
            fact_kinds.SOLVE, window, _no_value(), F.first_contact, counted, F.first_contact.is_not(None)
        )
    return _stored(fact_kinds.SOLVE, window, _no_value(), literal(0), counted)


def _sla(window: Window, metric: Metric) -> Select[Any]:
    clock = SLA_CLOCKS[metric]
    ended = _stored(fact_kinds.SLA_KINDS[clock], window, _no_value(), TicketFact.ok)
    # A clock breached in the window and still running is a miss that has not ended yet.
    running = (
        select(
            TicketSla.ticket_id.label("ticket_id"),
            TicketSla.breached_at.label("at"),
            _no_value().label("value"),
            _no_bucket().label("bucket"),
            cast(literal(0), Integer).label("ok"),
            Ticket.team_id.label("team_id"),
            Ticket.assignee_id.label("assignee_id"),
            Ticket.channel_type.label("channel_type"),
            Ticket.topic.label("topic"),
            Ticket.priority.label("priority"),
            Customer.segment.label("segment"),
        )
        .select_from(TicketSla)
        .join(Ticket, Ticket.id == TicketSla.ticket_id)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(
            TicketSla.metric == clock,
            TicketSla.fulfilled_at.is_(None),
            TicketSla.breached_at >= _at(window.start),
            TicketSla.breached_at < _at(window.end),
            Ticket.merged_into_id.is_(None),
        )
    )
    return union_all(ended, running)  # type: ignore[return-value]


def _backlog(window: Window) -> Select[Any]:
    query: Any = (
        select(
            Ticket.id.label("ticket_id"),
            Ticket.created_at.label("at"),
            seconds_between(_at(window.now), Ticket.created_at).label("value"),
            # An age is not stored: the backlog takes the sorting statement (service.py).
            _no_bucket().label("bucket"),
            cast(literal(0), Integer).label("ok"),
            Ticket.team_id.label("team_id"),
            Ticket.assignee_id.label("assignee_id"),
            Ticket.channel_type.label("channel_type"),
            Ticket.topic.label("topic"),
            Ticket.priority.label("priority"),
            Customer.segment.label("segment"),
        )
        # Outer, so that PostgreSQL leaves the customers out when the segment is not asked for.
        .outerjoin(Customer, _segmented(Ticket.customer_id))
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
    )
    return query  # type: ignore[no-any-return]


def facts(metric: Metric, window: Window) -> Subquery:
    """The facts of every metric but CSAT, whose answers the surveys module hands over."""
    F = TicketFact
    if metric == Metric.CREATED:
        query = _stored(fact_kinds.CREATED, window, _no_value(), literal(0))
    elif metric == Metric.ESCALATION:
        query = _stored(fact_kinds.CREATED, window, _no_value(), F.ok)
    elif metric == Metric.FIRST_RESPONSE:
        query = _stored(fact_kinds.FIRST_RESPONSE, window, F.value, literal(0))
    elif metric == Metric.NEXT_RESPONSE:
        query = _stored(fact_kinds.NEXT_RESPONSE, window, F.value, literal(0))
    elif metric in (Metric.SOLVED, Metric.RESOLUTION, Metric.FCR, Metric.REOPEN):
        query = _final_solves(window, metric)
    elif metric in SLA_CLOCKS:
        query = _sla(window, metric)
    elif metric == Metric.BOT_RESOLUTION:
        query = _stored(fact_kinds.BOT, window, _no_value(), F.ok)
    elif metric == Metric.BOT_HANDOFF:
        query = _stored(fact_kinds.BOT, window, _no_value(), 1 - F.ok)
    elif metric == Metric.BACKLOG:
        query = _backlog(window)
    else:
        raise ValueError(f"{metric} has no facts query")
    return query.subquery("facts")


# -- reading facts --------------------------------------------------------------------------------


def _column(f: Subquery, dimension: Dimension) -> ColumnElement[Any] | None:
    return {
        Dimension.AGENT: f.c.assignee_id,
        Dimension.TEAM: f.c.team_id,
        Dimension.CHANNEL: f.c.channel_type,
        Dimension.TOPIC: f.c.topic,
        Dimension.PRIORITY: f.c.priority,
        Dimension.SEGMENT: f.c.segment,
    }.get(dimension)


def narrowed(f: Subquery, filters: Filters) -> list[ColumnElement[bool]]:
    pairs: list[tuple[Any, Sequence[Any]]] = [
        (f.c.team_id, filters.team_ids),
        (f.c.assignee_id, filters.agent_ids),
        (f.c.channel_type, filters.channel_types),
        (f.c.topic, filters.topics),
        (f.c.priority, filters.priorities),
        (f.c.segment, filters.segments),
    ]
    return [column.in_(values) for column, values in pairs if values]


@dataclass(frozen=True)
class Aggregate:
    key: Any
    count: int
    hits: int
    average: float | None
    median: float | None
    p90: float | None
    # The row of all slices together (``with_total``), not of one slice.
    is_total: bool = False


def report_key(f: Subquery, dimension: Dimension, timezone: str) -> ColumnElement[Any]:
    """What a report groups the facts by: the local period, the slice, or one constant."""
    if dimension in PERIODS:
        return func.date_trunc(dimension.value, func.timezone(timezone, f.c.at))
    if dimension == Dimension.TOTAL:
        return literal("total")
    return _column(f, dimension)  # type: ignore[return-value]


async def aggregate_sorted(
    session: AsyncSession,
    f: Subquery,
    dimension: Dimension,
    filters: Filters,
    timezone: str,
    *,
    with_total: bool = False,
) -> list[Aggregate]:
    """The plain statement: groups, averages and ``percentile_cont``, which sorts every value;
    with ``with_total`` the total row from the same pass (``ROLLUP``). Reports use
    ``percentiles.aggregate_pg`` (the same numbers without the sort, ADR 35); the tests and
    bench/reports.py compare it with this one."""
    key = report_key(f, dimension, timezone)
    query = select(
        key.label("key"),
        func.count().label("count"),
        func.coalesce(func.sum(f.c.ok), 0).label("hits"),
        func.avg(f.c.value).label("average"),
        func.percentile_cont(0.5).within_group(f.c.value).label("median"),
        func.percentile_cont(0.9).within_group(f.c.value).label("p90"),
        (func.grouping(key) if with_total else literal(0)).label("is_total"),
    ).where(*narrowed(f, filters))
    query = query.group_by(func.rollup(key) if with_total else key)
    return [
        Aggregate(
            row.key,
            int(row[1]),
            int(row[2]),
            None if row.average is None else float(row.average),
            None if row.median is None else float(row.median),
            None if row.p90 is None else float(row.p90),
            bool(row.is_total),
        )
        for row in await session.execute(query)
    ]


async def roomy_sorts(session: AsyncSession) -> None:
    """Let this transaction keep a year of a report's facts in memory: ``percentiles`` keeps
    them to read twice (a million rows at the issue's size, some 60 MB), and the plain
    statement sorts them; past ``work_mem`` either goes to disk."""
    await session.execute(text("SET LOCAL work_mem = '64MB'"))


async def fact_rows(
    session: AsyncSession, f: Subquery, dimension: Dimension, filters: Filters
) -> list[tuple[Any, float | None, int]]:
    """(slice key or instant, value, ok) per fact: SQLite groups and takes percentiles in Python."""
    if dimension in PERIODS:
        key: ColumnElement[Any] = f.c.at
    elif dimension == Dimension.TOTAL:
        key = literal("total")
    else:
        key = _column(f, dimension)  # type: ignore[assignment]
    query = select(key, f.c.value, f.c.ok).where(*narrowed(f, filters))
    return [(row[0], row[1], int(row[2] or 0)) for row in await session.execute(query)]


async def ticket_ids(
    session: AsyncSession,
    f: Subquery,
    filters: Filters,
    *,
    dimension: Dimension,
    key: str | None,
    ok: bool | None,
    limit: int,
) -> list[int]:
    """The tickets behind one number, newest first."""
    conditions = narrowed(f, filters)
    column = _column(f, dimension)
    if column is not None:
        if key is None:
            conditions.append(column.is_(None))
        elif dimension in (Dimension.AGENT, Dimension.TEAM):
            conditions.append(column == (int(key) if key.lstrip("-").isdigit() else -1))
        else:
            conditions.append(column == key)
    if ok is not None:
        conditions.append(f.c.ok == (1 if ok else 0))
    query = select(f.c.ticket_id).where(*conditions).distinct().order_by(f.c.ticket_id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


# -- names and the live dashboard ---------------------------------------------------------------------


async def agent_names(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.name for row in await session.execute(select(Agent.id, Agent.name))}


async def team_names(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.name for row in await session.execute(select(Team.id, Team.name))}


async def open_tickets(session: AsyncSession) -> list[tuple[int | None, int | None, bool, int]]:
    """(team, agent, being worked on, tickets) of the open tickets: the queues and the agents'
    load both come from this one pass over the open-ticket index."""
    working = Ticket.status.in_(WORKING_STATUSES)
    query = (
        select(Ticket.team_id, Ticket.assignee_id, working, func.count())
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.team_id, Ticket.assignee_id, working)
    )
    return [(row[0], row[1], bool(row[2]), int(row[3])) for row in await session.execute(query)]


async def active_agents(session: AsyncSession) -> list[tuple[int, str, str, int | None]]:
    """(agent, name, presence, capacity) of every active agent, by name."""
    query = (
        select(Agent.id, Agent.name, Agent.presence, AgentRouting.default_capacity)
        .outerjoin(AgentRouting, AgentRouting.agent_id == Agent.id)
        .where(Agent.is_active.is_(True))
        .order_by(Agent.name, Agent.id)
    )
    return [(row[0], row[1], row[2], row[3]) for row in await session.execute(query)]


async def sla_at_risk(session: AsyncSession, *, now: datetime, horizon: datetime) -> tuple[int, int]:
    """Clocks still running: (already breached, due before ``horizon``)."""
    running = and_(TicketSla.fulfilled_at.is_(None), TicketSla.due_at.is_not(None))
    query = select(
        func.count().filter(TicketSla.due_at <= _at(now)),
        func.count().filter(TicketSla.due_at > _at(now), TicketSla.due_at <= _at(horizon)),
    ).where(running, TicketSla.due_at <= _at(horizon))
    row = (await session.execute(query)).one()
    return int(row[0]), int(row[1])


async def at_risk_ticket_ids(session: AsyncSession, *, horizon: datetime, limit: int) -> list[int]:
    query = (
        select(TicketSla.ticket_id)
        .where(
            TicketSla.fulfilled_at.is_(None), TicketSla.due_at.is_not(None), TicketSla.due_at <= _at(horizon)
        )
        .distinct()
        .order_by(TicketSla.ticket_id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def created_between(session: AsyncSession, spans: Sequence[tuple[datetime, datetime]]) -> list[int]:
    """Tickets created in each span, in one statement (the dashboard's today vs earlier weeks)."""
    within = [
        and_(TicketEvent.created_at >= _at(start), TicketEvent.created_at < _at(end)) for start, end in spans
    ]
    # Only the spans themselves, not the weeks between them: a few index ranges, not a month.
    query = select(*[func.count().filter(w) for w in within]).where(
        TicketEvent.kind == "ticket_created", or_(*within)
    )
    return [int(v) for v in (await session.execute(query)).one()]


async def topic_counts(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    query = (
        select(Ticket.topic, func.count())
        .select_from(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.kind == "ticket_created",
            TicketEvent.created_at >= _at(start),
            TicketEvent.created_at < _at(end),
            Ticket.topic.is_not(None),
        )
        .group_by(Ticket.topic)
    )
    return {str(row[0]): int(row[1]) for row in await session.execute(query)}


async def newest_ticket_of_topic(
    session: AsyncSession, topic: str, start: datetime, end: datetime
) -> int | None:
    query = (
        select(func.max(Ticket.id))
        .select_from(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.kind == "ticket_created",
            TicketEvent.created_at >= _at(start),
            TicketEvent.created_at < _at(end),
            Ticket.topic == topic,
        )
    )
    return await session.scalar(query)


async def managers(session: AsyncSession) -> list[tuple[int, str, str]]:
    """(id, email, language) of active supervisors and admins: who gets reports and alerts."""
    query = (
        select(Agent.id, Agent.email, Agent.language)
        .where(Agent.is_active.is_(True), Agent.role.in_(("admin", "supervisor")))
        .order_by(Agent.id)
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(query)]


@dataclass(frozen=True)
class TicketSlice:
    team_id: int | None
    assignee_id: int | None
    channel_type: str
    topic: str | None
    priority: str
    segment: str | None


async def ticket_slices(session: AsyncSession, ids: Sequence[int]) -> dict[int, TicketSlice]:
    """The attributes reports slice by, for tickets whose facts came from elsewhere (CSAT)."""
    if not ids:
        return {}
    query = (
        select(
            Ticket.id,
            Ticket.team_id,
            Ticket.assignee_id,
            Ticket.channel_type,
            Ticket.topic,
            Ticket.priority,
            Customer.segment,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.id.in_(sorted(set(ids))))
    )
    return {row[0]: TicketSlice(*row[1:]) for row in await session.execute(query)}


async def tickets_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Ticket]:
    if not ids:
        return []
    rows = (await session.scalars(select(Ticket).where(Ticket.id.in_(list(ids))))).all()
    order = {tid: i for i, tid in enumerate(ids)}
    return sorted(rows, key=lambda t: order[t.id])
