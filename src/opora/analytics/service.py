"""Reports, drill-down and the live dashboard: the use cases the API, the pages and jobs share.

PostgreSQL computes a report's groups, averages and exact percentiles (``percentiles.py``: counts
per value bucket, then only the buckets holding the wanted ranks). SQLite has no percentile
function, so there the facts of the report come back as rows and are grouped here with the same
interpolation; tests run both backends against the same known answers. Counts and
rates add the hourly counts of the span's whole hours (``rollups.py``) to the facts of its ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opora.analytics import percentiles, rollups
from opora.analytics import repository as repo
from opora.analytics.definitions import (
    KINDS,
    MAX_SPAN,
    PERIODS,
    Dimension,
    Filters,
    Kind,
    Metric,
    Stats,
    bucket_end,
    bucket_key,
    bucket_start,
    local_to_utc,
    stats,
)
from opora.analytics.schemas import AgentLoadOut, DashboardOut, ReportOut, StatsOut, TeamQueueOut
from opora.db import UnitOfWork
from opora.kit.errors import InvalidInput
from opora.surveys import service as surveys_service
from opora.tickets.models import Ticket

DRILL_LIMIT = 500
# Reports spanning this or more find percentiles by counting value buckets first (ADR 35); the
# break-even between 30 days (sorting faster) and 365 (counting 1.2-2x faster) was not measured.
BUCKETED_FROM = timedelta(days=90)
MAX_BUCKETS = 1000
AT_RISK_HORIZON = timedelta(hours=1)
VOLUME_WEEKS = 4


@dataclass(frozen=True)
class ReportQuery:
    metric: Metric
    start: datetime
    end: datetime
    dimension: Dimension = Dimension.TOTAL
    filters: Filters = field(default_factory=Filters)

    def previous(self) -> ReportQuery:
        span = self.end - self.start
        return ReportQuery(self.metric, self.start - span, self.start, self.dimension, self.filters)


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    kind: Kind
    rows: list[Stats]
    total: Stats
    # The same report over the span just before; None for the backlog, which is the desk now.
    previous: Stats | None


def check_query(query: ReportQuery) -> None:
    if query.start.tzinfo is None or query.end.tzinfo is None:
        raise InvalidInput(
            "Give start and end with a time zone, e.g. 2026-01-01T00:00:00+03:00.", field="start"
        )
    if query.end <= query.start:
        raise InvalidInput("end must be after start.", field="end")
    if query.end - query.start > MAX_SPAN:
        raise InvalidInput("A report spans at most 366 days.", field="end")
    if query.dimension == Dimension.HOUR and query.end - query.start > timedelta(days=31):
        raise InvalidInput("Hourly reports span at most 31 days.", field="dimension")


async def report(uow: UnitOfWork, query: ReportQuery, *, timezone: str, now: datetime) -> Report:
    check_query(query)
    zone = ZoneInfo(timezone)
    if not uow.is_sqlite:
        await repo.roomy_sorts(uow.session)
    rows, found = await _slices_and_total(uow, query, zone, now)
    total = found or stats(None, [], 0)
    previous: Stats | None = None
    if query.metric != Metric.BACKLOG:
        earlier = await _slices(uow, query.previous(), Dimension.TOTAL, zone, now)
        previous = earlier[0] if earlier else stats(None, [], 0)
    if query.dimension in PERIODS:
        rows = _fill_periods(rows, query, zone)
    else:
        rows.sort(key=lambda s: (-s.count, s.key or ""))
    return Report(query, KINDS[query.metric], rows, total, previous)


async def _slices_and_total(
    uow: UnitOfWork, query: ReportQuery, zone: ZoneInfo, now: datetime
) -> tuple[list[Stats], Stats | None]:
    dimension = query.dimension
    if dimension == Dimension.TOTAL:
        rows = await _slices(uow, query, dimension, zone, now)
        return rows, (rows[0] if rows else None)
    planned = rollups.plan(query.metric, query.start, query.end, dimension, query.filters, zone)
    if uow.is_sqlite or query.metric == Metric.CSAT or planned is not None:
        whole = await _slices(uow, query, Dimension.TOTAL, zone, now)
        return await _slices(uow, query, dimension, zone, now), (whole[0] if whole else None)
    # The slices and the total from the same two statements over the facts.
    facts = repo.facts(query.metric, _window(query, now))
    found = await _aggregate_pg(uow, query, facts, dimension, zone, with_total=True)
    rows = [_stats(a, dimension) for a in found if a.count and not a.is_total]
    total = next((_stats(a, Dimension.TOTAL) for a in found if a.is_total and a.count), None)
    return rows, total


def _stats(a: repo.Aggregate, dimension: Dimension) -> Stats:
    key = "total" if dimension == Dimension.TOTAL else _key(a.key, dimension)
    return Stats(key, a.count, a.hits, a.average, a.median, a.p90)


async def _aggregate_pg(
    uow: UnitOfWork,
    query: ReportQuery,
    facts: Any,
    dimension: Dimension,
    zone: ZoneInfo,
    *,
    with_total: bool,
) -> list[repo.Aggregate]:
    """The same numbers either way (ADR 35): counting buckets first pays off over long spans;
    over a month, sorting its ~80k facts in one statement was faster (bench/reports.py: 390 vs
    560 ms for first response by team, 30 d). The backlog's facts are tickets created at any
    time, not in the span, and a few of them."""
    if query.metric == Metric.BACKLOG or query.end - query.start < BUCKETED_FROM:
        return await repo.aggregate_sorted(
            uow.session, facts, dimension, query.filters, zone.key, with_total=with_total
        )
    return await percentiles.aggregate_pg(
        uow.session,
        facts,
        dimension,
        query.filters,
        zone.key,
        span=(query.start, query.end),
        with_total=with_total,
    )


def _window(query: ReportQuery, now: datetime) -> repo.Window:
    return repo.Window(query.start, query.end, now)


async def _slices(
    uow: UnitOfWork, query: ReportQuery, dimension: Dimension, zone: ZoneInfo, now: datetime
) -> list[Stats]:
    if query.metric == Metric.CSAT:
        return await _csat_slices(uow, query, dimension, zone)
    planned = rollups.plan(query.metric, query.start, query.end, dimension, query.filters, zone)
    if planned is None:
        return await _fact_slices(uow, query, _window(query, now), dimension, zone)
    # The whole hours from the hourly counts, the ends of the span from the facts.
    window = repo.Window(query.start, query.end, now, (planned.first, planned.last))
    found = {s.key: s for s in await _fact_slices(uow, query, window, dimension, zone)}
    counted: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for value, count, hits in await rollups.counts(uow.session, planned, dimension, zone.key):
        if dimension in PERIODS and uow.is_sqlite:
            key = _row_key(value, dimension, zone)
        else:
            key = _key(value, dimension)
        counted[key][0] += count
        counted[key][1] += hits
    for key, (count, hits) in counted.items():
        ends = found.get(key)
        if ends is None:
            found[key] = Stats(key, count, hits, None, None, None)
        else:
            found[key] = Stats(key, ends.count + count, ends.hits + hits, ends.average, ends.median, ends.p90)
    return [s for s in found.values() if s.count]


async def _fact_slices(
    uow: UnitOfWork, query: ReportQuery, window: repo.Window, dimension: Dimension, zone: ZoneInfo
) -> list[Stats]:
    facts = repo.facts(query.metric, window)
    if not uow.is_sqlite:
        found = await _aggregate_pg(uow, query, facts, dimension, zone, with_total=False)
        return [_stats(a, dimension) for a in found if a.count]
    rows = await repo.fact_rows(uow.session, facts, dimension, query.filters)
    # julianday() arithmetic is off by microseconds; milliseconds are what a report can claim.
    return _group(
        [(_row_key(k, dimension, zone), None if v is None else round(v, 3), ok) for k, v, ok in rows]
    )


def _key(value: Any, dimension: Dimension) -> str | None:
    if value is None:
        return None
    if dimension in PERIODS:
        return bucket_key(value.replace(tzinfo=None))
    return str(value)


def _row_key(value: Any, dimension: Dimension, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    if dimension in PERIODS:
        return bucket_key(bucket_start(value, dimension, zone))
    return str(value)


def _group(rows: Sequence[tuple[str | None, float | None, int]]) -> list[Stats]:
    values: dict[str | None, list[float | None]] = defaultdict(list)
    hits: dict[str | None, int] = defaultdict(int)
    for key, value, ok in rows:
        values[key].append(value)
        hits[key] += ok
    return [stats(key, values[key], hits[key]) for key in values]


def _fill_periods(rows: list[Stats], query: ReportQuery, zone: ZoneInfo) -> list[Stats]:
    """Every bucket of the span in order, empty ones included, so a chart shows the gaps."""
    unit = query.dimension
    found = {s.key: s for s in rows}
    result: list[Stats] = []
    cursor = bucket_start(query.start, unit, zone)
    last = query.end.astimezone(zone).replace(tzinfo=None)
    while cursor < last and len(result) < MAX_BUCKETS:
        key = bucket_key(cursor)
        result.append(found.pop(key) if key in found else stats(key, [], 0))
        cursor = bucket_end(cursor, unit)
    return result + sorted(found.values(), key=lambda s: s.key or "")


# -- CSAT: answers come from the surveys module --------------------------------------------------


@dataclass(frozen=True)
class _Rated:
    ticket_id: int
    answered_at: datetime
    rating: int
    slice: repo.TicketSlice


async def _rated(uow: UnitOfWork, query: ReportQuery) -> list[_Rated]:
    answers = await surveys_service.csat_rows(uow.session, start=query.start, end=query.end)
    tickets = await repo.ticket_slices(uow.session, [a.ticket_id for a in answers])
    rated = []
    for a in answers:
        found = tickets.get(a.ticket_id)
        if found is None:
            continue
        # The answer belongs to whoever solved the ticket, not whoever holds it now.
        credited = repo.TicketSlice(
            a.team_id, a.agent_id, found.channel_type, found.topic, found.priority, found.segment
        )
        if _matches(credited, query.filters):
            rated.append(_Rated(a.ticket_id, a.answered_at, a.rating, credited))
    return rated


def _matches(s: repo.TicketSlice, f: Filters) -> bool:
    checks: list[tuple[Any, Sequence[Any]]] = [
        (s.team_id, f.team_ids),
        (s.assignee_id, f.agent_ids),
        (s.channel_type, f.channel_types),
        (s.topic, f.topics),
        (s.priority, f.priorities),
        (s.segment, f.segments),
    ]
    return all(value in wanted for value, wanted in checks if wanted)


def _slice_key(s: repo.TicketSlice, dimension: Dimension) -> Any:
    return {
        Dimension.AGENT: s.assignee_id,
        Dimension.TEAM: s.team_id,
        Dimension.CHANNEL: s.channel_type,
        Dimension.TOPIC: s.topic,
        Dimension.PRIORITY: s.priority,
        Dimension.SEGMENT: s.segment,
    }.get(dimension, "total")


async def _csat_slices(
    uow: UnitOfWork, query: ReportQuery, dimension: Dimension, zone: ZoneInfo
) -> list[Stats]:
    rows = []
    for r in await _rated(uow, query):
        key = r.answered_at if dimension in PERIODS else _slice_key(r.slice, dimension)
        rows.append((_row_key(key, dimension, zone), float(r.rating), int(r.rating >= 4)))
    return _group(rows)


# -- drill-down ------------------------------------------------------------------------------------


async def drill_down(
    uow: UnitOfWork,
    query: ReportQuery,
    *,
    key: str | None,
    ok: bool | None,
    timezone: str,
    now: datetime,
    limit: int = DRILL_LIMIT,
) -> list[int]:
    """The tickets behind one number of a report: a slice (``key``), optionally only those that
    met (``ok=True``) or missed the metric's condition. A period slice narrows the span."""
    check_query(query)
    zone = ZoneInfo(timezone)
    dimension = query.dimension
    if dimension in PERIODS and key is not None:
        try:
            local = datetime.strptime(key, "%Y-%m-%dT%H:%M")
        except ValueError as exc:
            raise InvalidInput("A period key looks like 2026-01-31T00:00.", field="key") from exc
        start = max(query.start, local_to_utc(local, zone))
        end = min(query.end, local_to_utc(bucket_end(local, dimension), zone))
        query = ReportQuery(query.metric, start, max(start, end), Dimension.TOTAL, query.filters)
        dimension, key = Dimension.TOTAL, None
    if query.metric == Metric.CSAT:
        found = [
            r.ticket_id
            for r in await _rated(uow, query)
            if (dimension == Dimension.TOTAL or _str(_slice_key(r.slice, dimension)) == key)
            and (ok is None or (r.rating >= 4) == ok)
        ]
        return sorted(set(found), reverse=True)[:limit]
    facts = repo.facts(query.metric, _window(query, now))
    return await repo.ticket_ids(
        uow.session, facts, query.filters, dimension=dimension, key=key, ok=ok, limit=limit
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


async def tickets(uow: UnitOfWork, ids: Sequence[int]) -> list[Ticket]:
    return await repo.tickets_by_ids(uow.session, ids)


async def names(uow: UnitOfWork) -> tuple[dict[int, str], dict[int, str]]:
    return await repo.agent_names(uow.session), await repo.team_names(uow.session)


# -- live dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamQueue:
    team_id: int | None
    working: int
    unassigned: int
    waiting: int


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    name: str
    presence: str
    open_tickets: int
    capacity: int | None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    queues: list[TeamQueue]
    agents: list[AgentLoad]
    breached: int
    due_soon: int
    today: int
    # Created by this time of day on the same weekday, 1..VOLUME_WEEKS weeks back (newest first).
    same_weekday: list[int]

    @property
    def usual_today(self) -> float | None:
        return sum(self.same_weekday) / len(self.same_weekday) if self.same_weekday else None


async def dashboard(uow: UnitOfWork, *, timezone: str, now: datetime) -> Dashboard:
    """Four small statements, each on an index: open tickets (queues and load), agents, SLA risk
    and today's volume."""
    zone = ZoneInfo(timezone)
    midnight = local_to_utc(bucket_start(now, Dimension.DAY, zone), zone)
    spans = [(midnight, now)] + [
        (midnight - timedelta(weeks=w), now - timedelta(weeks=w)) for w in range(1, VOLUME_WEEKS + 1)
    ]
    counts = await repo.created_between(uow.session, spans)
    breached, due_soon = await repo.sla_at_risk(uow.session, now=now, horizon=now + AT_RISK_HORIZON)
    queues, agents = _queues_and_load(
        await repo.open_tickets(uow.session), await repo.active_agents(uow.session)
    )
    return Dashboard(
        now=now,
        queues=queues,
        agents=agents,
        breached=breached,
        due_soon=due_soon,
        today=counts[0],
        same_weekday=counts[1:],
    )


def _queues_and_load(
    open_tickets: Sequence[tuple[int | None, int | None, bool, int]],
    agents: Sequence[tuple[int, str, str, int | None]],
) -> tuple[list[TeamQueue], list[AgentLoad]]:
    """Per team: tickets being worked on, of them unassigned, and waiting on the customer; per
    active agent not offline (or offline with work): the tickets they are working on."""
    queues: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    load: dict[int, int] = defaultdict(int)
    for team_id, agent_id, working, n in open_tickets:
        figures = queues[team_id]
        if working:
            figures[0] += n
            if agent_id is None:
                figures[1] += n
            else:
                load[agent_id] += n
        else:
            figures[2] += n
    return (
        [TeamQueue(team_id, *figures) for team_id, figures in queues.items()],
        [
            AgentLoad(agent_id, name, presence, load[agent_id], capacity)
            for agent_id, name, presence, capacity in agents
            if presence != "offline" or load[agent_id] > 0
        ],
    )


async def at_risk_tickets(uow: UnitOfWork, *, now: datetime, limit: int = DRILL_LIMIT) -> list[int]:
    return await repo.at_risk_ticket_ids(uow.session, horizon=now + AT_RISK_HORIZON, limit=limit)


# -- API shapes ------------------------------------------------------------------------------------


def label(dimension: Dimension, key: str | None, agents: dict[int, str], teams: dict[int, str]) -> str:
    if key is None:
        return "—"
    if dimension == Dimension.AGENT:
        return agents.get(int(key), f"#{key}")
    if dimension == Dimension.TEAM:
        return teams.get(int(key), f"#{key}")
    if dimension == Dimension.TOTAL:
        return "total"
    return key


async def report_out(uow: UnitOfWork, result: Report, *, timezone: str) -> ReportOut:
    agents, teams = await names(uow)
    dimension = result.query.dimension
    return ReportOut(
        metric=result.query.metric,
        kind=result.kind,
        dimension=dimension,
        start=result.query.start,
        end=result.query.end,
        timezone=timezone,
        total=StatsOut.of(result.total, "total"),
        previous=StatsOut.of(result.previous, "previous") if result.previous else None,
        rows=[StatsOut.of(s, label(dimension, s.key, agents, teams)) for s in result.rows],
    )


async def dashboard_out(uow: UnitOfWork, board: Dashboard) -> DashboardOut:
    _, teams = await names(uow)
    return DashboardOut(
        now=board.now,
        queues=[
            TeamQueueOut(
                team_id=q.team_id,
                team=teams.get(q.team_id, "—") if q.team_id is not None else "—",
                working=q.working,
                unassigned=q.unassigned,
                waiting=q.waiting,
            )
            for q in board.queues
        ],
        agents=[AgentLoadOut.model_validate(a, from_attributes=True) for a in board.agents],
        sla_breached=board.breached,
        sla_due_within_hour=board.due_soon,
        created_today=board.today,
        created_same_weekday=board.same_weekday,
        usual_today=board.usual_today,
    )
