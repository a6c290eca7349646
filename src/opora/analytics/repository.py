"""All SQL of analytics: every metric as a query over ticket events, and the live dashboard.

Each metric is a *facts* query: one row per counted occurrence (a first reply, a final solve, an
SLA clock that ended, ...) with the ticket it belongs to, the instant that places it in a period,
a value (seconds, or a rating), a 0/1 ``ok`` flag for rates, and the ticket's attributes to slice
by. Reports aggregate those rows; drill-down lists their tickets; so a number and the tickets
behind it come from one definition.

Times in business hours are never recomputed here: where an SLA clock measured a span, its
``sla_fulfilled`` event carries the business (or calendar) seconds it counted, pauses excluded,
and that figure is used. Tickets without a clock fall back to calendar time between events.
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
    Subquery,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from opora.agents.models import Agent, Team
from opora.analytics.definitions import (
    BOT_HANDOFF,
    BOT_RESOLVED,
    PERIODS,
    SLA_CLOCKS,
    Dimension,
    Filters,
    Metric,
)
from opora.customers.models import Customer
from opora.db import UTCDateTime
from opora.events.models import TicketEvent
from opora.routing.models import AgentRouting
from opora.sla.models import TicketSla
from opora.tickets.models import Ticket

FINISHED = ("solved", "closed")
OPEN_STATUSES = ("new", "open", "pending", "on_hold")
WORKING_STATUSES = ("new", "open")
_NO_NEXT = 2**62


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


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _text(event: Any, *path: str) -> ColumnElement[str]:
    return event.data[path if len(path) > 1 else path[0]].as_string()  # type: ignore[no-any-return]


def _bool(event: Any, key: str) -> ColumnElement[bool]:
    return func.coalesce(event.data[key].as_boolean(), false())


def _in_window(event: Any, window: Window) -> ColumnElement[bool]:
    return and_(event.created_at >= _at(window.start), event.created_at < _at(window.end))


def _public_agent_reply(event: Any) -> ColumnElement[bool]:
    return and_(
        event.kind == "message_added",
        _text(event, "direction") == "out",
        _text(event, "author_type") == "agent",
        _bool(event, "internal") == false(),
    )


def _customer_message(event: Any) -> ColumnElement[bool]:
    return and_(
        event.kind == "message_added",
        _text(event, "direction") == "in",
        _bool(event, "internal") == false(),
    )


def _solve(event: Any) -> ColumnElement[bool]:
    return and_(
        event.kind == "status_changed",
        _text(event, "status", "new").in_(FINISHED),
        func.coalesce(_text(event, "status", "old"), "").not_in(FINISHED),
    )


def _reopen(event: Any) -> ColumnElement[bool]:
    return and_(
        event.kind == "status_changed",
        _text(event, "status", "old").in_(FINISHED),
        _text(event, "status", "new").not_in(FINISHED),
    )


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _no_value() -> ColumnElement[float]:
    return cast(null(), Float)


def _row(event: Any, at: Any, value: Any, ok: Any) -> Select[Any]:
    """One facts row over ``event`` joined to its ticket and customer; the caller adds WHERE."""
    return (
        select(
            event.ticket_id.label("ticket_id"),
            at.label("at"),
            cast(value, Float).label("value"),
            cast(ok, Integer).label("ok"),
            Ticket.team_id.label("team_id"),
            Ticket.assignee_id.label("assignee_id"),
            Ticket.channel_type.label("channel_type"),
            Ticket.topic.label("topic"),
            Ticket.priority.label("priority"),
            Customer.segment.label("segment"),
        )
        .select_from(event)
        .join(Ticket, Ticket.id == event.ticket_id)
        .join(Customer, Customer.id == Ticket.customer_id)
    )


def _has_clock(metric: str) -> ColumnElement[bool]:
    return exists().where(TicketSla.ticket_id == Ticket.id, TicketSla.metric == metric)


def _fulfilled(event: Any, clock: str, reasons: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        event.kind == "sla_fulfilled",
        _text(event, "metric") == clock,
        _text(event, "reason").in_(reasons),
    )


# -- metrics as facts ---------------------------------------------------------------------------------


def _created(window: Window, ok: ColumnElement[int] | None = None) -> Select[Any]:
    e = aliased(TicketEvent, name="e")
    return _row(e, e.created_at, _no_value(), ok if ok is not None else literal(0)).where(
        e.kind == "ticket_created", _in_window(e, window)
    )


def _escalation(window: Window) -> Select[Any]:
    e = aliased(TicketEvent, name="e")
    x = aliased(TicketEvent, name="x")
    escalated = exists().where(x.ticket_id == e.ticket_id, x.kind == "escalated")
    return _row(e, e.created_at, _no_value(), _flag(escalated)).where(
        e.kind == "ticket_created", _in_window(e, window)
    )


def _first_response(window: Window) -> Select[Any]:
    e = aliased(TicketEvent, name="e")
    clocked = _row(e, e.created_at, e.data["elapsed_seconds"].as_float(), literal(0)).where(
        _fulfilled(e, "first_response", ("reply",)), _in_window(e, window)
    )
    r = aliased(TicketEvent, name="r")
    p = aliased(TicketEvent, name="p")
    earlier = exists().where(p.ticket_id == r.ticket_id, p.id < r.id, _public_agent_reply(p))
    calendar = _row(r, r.created_at, seconds_between(r.created_at, Ticket.created_at), literal(0)).where(
        _public_agent_reply(r), _in_window(r, window), ~earlier, ~_has_clock("first_response")
    )
    return union_all(clocked, calendar)  # type: ignore[return-value]


def _next_response(window: Window) -> Select[Any]:
    e = aliased(TicketEvent, name="e")
    clocked = _row(e, e.created_at, e.data["elapsed_seconds"].as_float(), literal(0)).where(
        _fulfilled(e, "next_response", ("reply",)), _in_window(e, window)
    )
    # Without a clock: from the first customer message after the previous reply to this reply.
    r = aliased(TicketEvent, name="r")
    p = aliased(TicketEvent, name="p")
    m = aliased(TicketEvent, name="m")
    previous = (
        select(func.max(p.id))
        .where(p.ticket_id == r.ticket_id, p.id < r.id, _public_agent_reply(p))
        .correlate_except(p)
        .scalar_subquery()
    )
    waiting_since = (
        select(func.min(m.created_at))
        .where(m.ticket_id == r.ticket_id, m.id > previous, m.id < r.id, _customer_message(m))
        .correlate_except(m)
        .scalar_subquery()
    )
    calendar = _row(r, r.created_at, seconds_between(r.created_at, waiting_since), literal(0)).where(
        _public_agent_reply(r),
        _in_window(r, window),
        waiting_since.is_not(None),
        ~_has_clock("next_response"),
    )
    return union_all(clocked, calendar)  # type: ignore[return-value]


def _final_solves(window: Window, metric: Metric) -> Select[Any]:
    """A ticket's last solve in the window: one row per solved ticket, merged tickets left out."""
    s = aliased(TicketEvent, name="s")
    later = aliased(TicketEvent, name="later")
    again = exists().where(
        later.ticket_id == s.ticket_id, later.id > s.id, later.created_at < _at(window.end), _solve(later)
    )
    value: Any = _no_value()
    ok: Any = literal(0)
    base_filters: list[ColumnElement[bool]] = []
    if metric == Metric.RESOLUTION:
        n = aliased(TicketEvent, name="n")
        f = aliased(TicketEvent, name="f")
        next_change = (
            select(func.min(n.id))
            .where(n.ticket_id == s.ticket_id, n.id > s.id, n.kind == "status_changed")
            .correlate_except(n)
            .scalar_subquery()
        )
        # Every run of the resolution clock up to this solve: time spent solved between a solve
        # and a reopen is not the customer waiting, and pauses were never counted.
        clocked = (
            select(func.sum(f.data["elapsed_seconds"].as_float()))
            .where(
                f.ticket_id == s.ticket_id,
                f.id < func.coalesce(next_change, _NO_NEXT),
                _fulfilled(f, "resolution", FINISHED),
            )
            .correlate_except(f)
            .scalar_subquery()
        )
        value = func.coalesce(clocked, seconds_between(s.created_at, Ticket.created_at))
    elif metric in (Metric.FCR, Metric.REOPEN):
        o = aliased(TicketEvent, name="o")
        if metric == Metric.REOPEN:
            ok = _flag(exists().where(o.ticket_id == s.ticket_id, _reopen(o)))
        else:
            a = aliased(TicketEvent, name="a")
            replies = (
                select(func.count())
                .select_from(a)
                .where(a.ticket_id == s.ticket_id, a.id < s.id, _public_agent_reply(a))
                .scalar_subquery()
            )
            reopened = exists().where(o.ticket_id == s.ticket_id, o.id < s.id, _reopen(o))
            ok = _flag(and_(replies == 1, ~reopened))
            # A ticket solved without any reply was not resolved by contact at all.
            base_filters.append(replies >= 1)
    return _row(s, s.created_at, value, ok).where(
        _solve(s), _in_window(s, window), ~again, Ticket.merged_into_id.is_(None), *base_filters
    )


def _sla(window: Window, metric: Metric) -> Select[Any]:
    clock = SLA_CLOCKS[metric]
    e = aliased(TicketEvent, name="e")
    breached = _bool(e, "breached") == true()
    ended = _row(e, e.created_at, _no_value(), _flag(~breached)).where(
        _fulfilled(e, clock, ("reply", *FINISHED)), _in_window(e, window)
    )
    # A clock breached in the window and still running is a miss that has not ended yet.
    running = (
        select(
            TicketSla.ticket_id.label("ticket_id"),
            TicketSla.breached_at.label("at"),
            _no_value().label("value"),
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


def _bot(window: Window, metric: Metric) -> Select[Any]:
    e = aliased(TicketEvent, name="e")
    wanted = BOT_RESOLVED if metric == Metric.BOT_RESOLUTION else BOT_HANDOFF
    return _row(e, e.created_at, _no_value(), _flag(e.kind == wanted)).where(
        e.kind.in_((BOT_RESOLVED, BOT_HANDOFF)), _in_window(e, window)
    )


def _backlog(window: Window) -> Select[Any]:
    query: Any = (
        select(
            Ticket.id.label("ticket_id"),
            Ticket.created_at.label("at"),
            seconds_between(_at(window.now), Ticket.created_at).label("value"),
            cast(literal(0), Integer).label("ok"),
            Ticket.team_id.label("team_id"),
            Ticket.assignee_id.label("assignee_id"),
            Ticket.channel_type.label("channel_type"),
            Ticket.topic.label("topic"),
            Ticket.priority.label("priority"),
            Customer.segment.label("segment"),
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
    )
    return query  # type: ignore[no-any-return]


def facts(metric: Metric, window: Window) -> Subquery:
    """The facts of every metric but CSAT, whose answers the surveys module hands over."""
    if metric == Metric.CREATED:
        query = _created(window)
    elif metric == Metric.ESCALATION:
        query = _escalation(window)
    elif metric == Metric.FIRST_RESPONSE:
        query = _first_response(window)
    elif metric == Metric.NEXT_RESPONSE:
        query = _next_response(window)
    elif metric in (Metric.SOLVED, Metric.RESOLUTION, Metric.FCR, Metric.REOPEN):
        query = _final_solves(window, metric)
    elif metric in SLA_CLOCKS:
        query = _sla(window, metric)
    elif metric in (Metric.BOT_RESOLUTION, Metric.BOT_HANDOFF):
        query = _bot(window, metric)
    elif metric == Metric.BACKLOG:
        query = _backlog(window)
    else:
        raise ValueError(f"{metric} has no facts query")
        raise ValueError(metric)
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


def _narrowed(f: Subquery, filters: Filters) -> list[ColumnElement[bool]]:
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


async def aggregate_pg(
    session: AsyncSession, f: Subquery, dimension: Dimension, filters: Filters, timezone: str
) -> list[Aggregate]:
    """PostgreSQL does the whole report: groups, averages and ``percentile_cont``."""
    if dimension in PERIODS:
        key: ColumnElement[Any] = func.date_trunc(dimension.value, func.timezone(timezone, f.c.at))
    else:
        key = _column(f, dimension) if dimension != Dimension.TOTAL else literal("total")  # type: ignore[assignment]
    query = (
        select(
            key.label("key"),
            func.count().label("count"),
            func.coalesce(func.sum(f.c.ok), 0).label("hits"),
            func.avg(f.c.value).label("average"),
            func.percentile_cont(0.5).within_group(f.c.value).label("median"),
            func.percentile_cont(0.9).within_group(f.c.value).label("p90"),
        )
        .where(*_narrowed(f, filters))
        .group_by(key)
    )
    return [
        Aggregate(
            row.key,
            int(row[1]),
            int(row[2]),
            None if row.average is None else float(row.average),
            None if row.median is None else float(row.median),
            None if row.p90 is None else float(row.p90),
        )
        for row in await session.execute(query)
    ]


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
    query = select(key, f.c.value, f.c.ok).where(*_narrowed(f, filters))
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
    conditions = _narrowed(f, filters)
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


async def queue_sizes(session: AsyncSession) -> list[tuple[int | None, int, int, int]]:
    """(team, tickets being worked on, of them unassigned, waiting on the customer) per team."""
    query = (
        select(
            Ticket.team_id,
            func.count().filter(Ticket.status.in_(WORKING_STATUSES)),
            func.count().filter(Ticket.status.in_(WORKING_STATUSES), Ticket.assignee_id.is_(None)),
            func.count().filter(Ticket.status.not_in(WORKING_STATUSES)),
        )
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.team_id)
    )
    return [(row[0], int(row[1]), int(row[2]), int(row[3])) for row in await session.execute(query)]


async def agents_load(session: AsyncSession) -> list[tuple[int, str, str, int, int | None]]:
    """(agent, name, presence, open tickets assigned, capacity) of every active agent not offline."""
    load = (
        select(Ticket.assignee_id, func.count().label("n"))
        .where(Ticket.status.in_(WORKING_STATUSES), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    query = (
        select(
            Agent.id, Agent.name, Agent.presence, func.coalesce(load.c.n, 0), AgentRouting.default_capacity
        )
        .outerjoin(load, load.c.assignee_id == Agent.id)
        .outerjoin(AgentRouting, AgentRouting.agent_id == Agent.id)
        .where(Agent.is_active.is_(True), or_(Agent.presence != "offline", load.c.n > 0))
        .order_by(Agent.name, Agent.id)
    )
    return [(row[0], row[1], row[2], int(row[3]), row[4]) for row in await session.execute(query)]


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
    columns = [
        func.count().filter(TicketEvent.created_at >= _at(start), TicketEvent.created_at < _at(end))
        for start, end in spans
    ]
    low = min(start for start, _ in spans)
    high = max(end for _, end in spans)
    query = select(*columns).where(
        TicketEvent.kind == "ticket_created",
        TicketEvent.created_at >= _at(low),
        TicketEvent.created_at < _at(high),
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
