"""A ticket's report facts, computed from its events: the rows of ``ticket_facts``.

Each kind of row is exactly what one metric counts (see docs/analytics.md), so reports read an
index range of this table instead of joining the event log to itself. The same function fills
the table in a transaction that records events (the reactor), backfills existing tickets in
batches, and checks the stored rows against the events.

Events are read in id order, the order they were recorded in; business time comes from the SLA
clocks' ``sla_fulfilled`` events, which carry the seconds the clock counted with pauses excluded;
whether a ticket has a clock at all comes from its ``sla_started`` events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.analytics import rollups
from opora.analytics.buckets import bucket_of
from opora.analytics.definitions import BOT_HANDOFF, BOT_RESOLVED
from opora.analytics.models import TicketFact
from opora.events.models import TicketEvent
from opora.tickets.models import Ticket

FINISHED = ("solved", "closed")
CREATED = "created"
FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
SOLVE = "solve"
BOT = "bot"
SLA_KINDS = {
    "first_response": "sla_first_response",
    "next_response": "sla_next_response",
    "resolution": "sla_resolution",
}
# The event kinds any fact depends on; other events only refresh the ticket's attributes.
_READ = (
    "ticket_created",
    "message_added",
    "status_changed",
    "sla_started",
    "sla_fulfilled",
    "escalated",
    BOT_RESOLVED,
    BOT_HANDOFF,
)
# Ticket ids per statement: under every database's bound-parameter limit.
_CHUNK = 900


@dataclass(frozen=True, order=True)
class Row:
    ticket_id: int
    kind: str
    at: datetime
    until: datetime | None
    value: float | None
    ok: int
    first_contact: int | None
    team_id: int | None
    assignee_id: int | None
    customer_id: int
    channel_type: str
    topic: str | None
    priority: str
    # As stored (``stored``): the value's bucket. Written from the value (``_params``), never
    # from here, so rows computed from events leave it out; not part of a row's identity.
    bucket: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Event:
    id: int
    kind: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class _Ticket:
    id: int
    created_at: datetime
    team_id: int | None
    assignee_id: int | None
    customer_id: int
    channel_type: str
    topic: str | None
    priority: str
    merged: bool


# -- reading event data as the SQL of the metrics did -------------------------------------------------


def _text(data: Any, *path: str) -> str | None:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _public(e: _Event) -> bool:
    return e.data.get("internal") is not True


def _public_agent_reply(e: _Event) -> bool:
    return (
        e.kind == "message_added"
        and _text(e.data, "direction") == "out"
        and _text(e.data, "author_type") == "agent"
        and _public(e)
    )


def _customer_message(e: _Event) -> bool:
    return e.kind == "message_added" and _text(e.data, "direction") == "in" and _public(e)


def _solve(e: _Event) -> bool:
    new = _text(e.data, "status", "new")
    return (
        e.kind == "status_changed"
        and new in FINISHED
        and (_text(e.data, "status", "old") or "") not in FINISHED
    )


def _reopen(e: _Event) -> bool:
    old, new = _text(e.data, "status", "old"), _text(e.data, "status", "new")
    return e.kind == "status_changed" and old in FINISHED and new is not None and new not in FINISHED


def _fulfilled(e: _Event, clock: str, reasons: Sequence[str]) -> bool:
    return (
        e.kind == "sla_fulfilled" and _text(e.data, "metric") == clock and _text(e.data, "reason") in reasons
    )


# -- one ticket ---------------------------------------------------------------------------------------


def clocks_of(events: Sequence[_Event]) -> set[str]:
    """The SLA clocks a ticket has. The SLA engine records ``sla_started`` whenever it creates a
    clock, so the events tell it without reading the SLA module's table (whose reads the SLA
    engine batches once per transaction); a fulfilled clock has started too."""
    return {
        clock
        for e in events
        if e.kind in ("sla_started", "sla_fulfilled") and (clock := _text(e.data, "metric")) is not None
    }


def ticket_rows(ticket: _Ticket, events: Sequence[_Event], clocks: set[str]) -> list[Row]:
    """The facts of one ticket from its events in id order and the SLA clocks it has."""
    attrs = (
        ticket.team_id,
        ticket.assignee_id,
        ticket.customer_id,
        ticket.channel_type,
        ticket.topic,
        ticket.priority,
    )
    rows: list[Row] = []

    def add(
        kind: str,
        at: datetime,
        *,
        value: float | None = None,
        ok: int = 0,
        until: datetime | None = None,
        first_contact: int | None = None,
    ) -> None:
        rows.append(Row(ticket.id, kind, at, until, value, ok, first_contact, *attrs))

    escalated = int(any(e.kind == "escalated" for e in events))
    reopened = int(any(_reopen(e) for e in events))
    solves = [e for e in events if _solve(e)]
    replies_seen = 0
    reopens_seen = 0
    waiting_since: datetime | None = None
    for e in events:
        if e.kind == "ticket_created":
            add(CREATED, e.at, ok=escalated)
        elif _fulfilled(e, "first_response", ("reply",)):
            add(FIRST_RESPONSE, e.at, value=_number(e.data.get("elapsed_seconds")))
        elif _fulfilled(e, "next_response", ("reply",)):
            add(NEXT_RESPONSE, e.at, value=_number(e.data.get("elapsed_seconds")))
        elif e.kind in (BOT_RESOLVED, BOT_HANDOFF):
            add(BOT, e.at, ok=int(e.kind == BOT_RESOLVED))
        if e.kind == "sla_fulfilled":
            clock = _text(e.data, "metric")
            if clock in SLA_KINDS and _fulfilled(e, clock, ("reply", *FINISHED)):
                add(SLA_KINDS[clock], e.at, ok=int(e.data.get("breached") is not True))
        if _public_agent_reply(e):
            # Without a clock: the first reply since creation, each later one since the first
            # customer message after the reply before it.
            if replies_seen == 0 and "first_response" not in clocks:
                add(FIRST_RESPONSE, e.at, value=(e.at - ticket.created_at).total_seconds())
            if replies_seen and waiting_since is not None and "next_response" not in clocks:
                add(NEXT_RESPONSE, e.at, value=(e.at - waiting_since).total_seconds())
            replies_seen += 1
            waiting_since = None
        elif _customer_message(e) and replies_seen:
            waiting_since = e.at if waiting_since is None else min(waiting_since, e.at)
        if _reopen(e):
            reopens_seen += 1
        if _solve(e) and not ticket.merged:
            later = [s.at for s in solves if s.id > e.id]
            add(
                SOLVE,
                e.at,
                until=min(later) if later else None,
                value=_resolution(ticket, events, e),
                ok=reopened,
                first_contact=None if replies_seen == 0 else int(replies_seen == 1 and reopens_seen == 0),
            )
    return rows


def _resolution(ticket: _Ticket, events: Sequence[_Event], solve: _Event) -> float:
    """Every run of the resolution clock up to this solve; calendar time when none was counted."""
    next_change = next((e.id for e in events if e.id > solve.id and e.kind == "status_changed"), None)
    runs = [
        _number(e.data.get("elapsed_seconds"))
        for e in events
        if (next_change is None or e.id < next_change) and _fulfilled(e, "resolution", FINISHED)
    ]
    counted = [r for r in runs if r is not None]
    if counted:
        return sum(counted)
    return (solve.at - ticket.created_at).total_seconds()


# -- many tickets ---------------------------------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


async def compute(session: AsyncSession, ticket_ids: Sequence[int]) -> list[Row]:
    """The facts of ``ticket_ids`` as the events say now; unknown ids have none."""
    rows: list[Row] = []
    for ids in _chunks(ticket_ids):
        tickets = [
            _Ticket(
                r.id,
                r.created_at,
                r.team_id,
                r.assignee_id,
                r.customer_id,
                r.channel_type,
                r.topic,
                r.priority,
                r.merged_into_id is not None,
            )
            for r in await session.execute(
                select(
                    Ticket.id,
                    Ticket.created_at,
                    Ticket.team_id,
                    Ticket.assignee_id,
                    Ticket.customer_id,
                    Ticket.channel_type,
                    Ticket.topic,
                    Ticket.priority,
                    Ticket.merged_into_id,
                ).where(Ticket.id.in_(ids))
            )
        ]
        events: dict[int, list[_Event]] = defaultdict(list)
        for r in await session.execute(
            select(
                TicketEvent.id,
                TicketEvent.ticket_id,
                TicketEvent.kind,
                TicketEvent.data,
                TicketEvent.created_at,
            )
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind.in_(_READ))
            .order_by(TicketEvent.ticket_id, TicketEvent.id)
        ):
            events[r.ticket_id].append(
                _Event(r.id, r.kind, r.data if isinstance(r.data, dict) else {}, r.created_at)
            )
        for ticket in tickets:
            found = events[ticket.id]
            rows.extend(ticket_rows(ticket, found, clocks_of(found)))
    return rows


async def stored(session: AsyncSession, ticket_ids: Sequence[int]) -> list[Row]:
    rows: list[Row] = []
    F = TicketFact
    for ids in _chunks(ticket_ids):
        query = select(
            F.ticket_id,
            F.kind,
            F.at,
            F.until,
            F.value,
            F.ok,
            F.first_contact,
            F.team_id,
            F.assignee_id,
            F.customer_id,
            F.channel_type,
            F.topic,
            F.priority,
            F.bucket,
        ).where(F.ticket_id.in_(ids))
        rows.extend(Row(*r) for r in await session.execute(query))  # type: ignore[call-arg]
    return rows


async def refresh(session: AsyncSession, ticket_ids: Sequence[int]) -> int:
    """Replace the stored facts of ``ticket_ids`` with what their events say; returns the rows."""
    if not ticket_ids:
        return 0
    rows = await compute(session, ticket_ids)
    old = await stored(session, ticket_ids)
    for ids in _chunks(ticket_ids):
        await session.execute(delete(TicketFact).where(TicketFact.ticket_id.in_(ids)))
    if rows:
        # A Core executemany: the ORM's bulk path is an order of magnitude slower here.
        await session.execute(insert(_TABLE), [_params(r) for r in rows])
    # The hourly counts move by the difference, in this transaction.
    await rollups.apply(session, rollups.changes(old, rows))
    return len(rows)


def _params(r: Row) -> dict[str, Any]:
    # The bucket always from the value it goes with: a fact whose value changed is a new row.
    return {**{name: getattr(r, name) for name in _COLUMNS}, "bucket": bucket_of(r.value)}


_COLUMNS = tuple(name for name in Row.__dataclass_fields__ if name != "bucket")
_TABLE: Table = TicketFact.__table__  # type: ignore[assignment]


def _same(a: Row, b: Row) -> bool:
    # Floats went through the database and instants through its clock type: compare them as
    # the reports use them, to the millisecond.
    def norm(r: Row) -> tuple[Any, ...]:
        return (
            r.kind,
            r.at.timestamp(),
            r.until.timestamp() if r.until else None,
            None if r.value is None else round(r.value, 3),
            r.ok,
            r.first_contact,
            r.team_id,
            r.assignee_id,
            r.customer_id,
            r.channel_type,
            r.topic,
            r.priority,
        )

    return norm(a) == norm(b)


async def differences(session: AsyncSession, ticket_ids: Sequence[int]) -> list[int]:
    """The tickets among ``ticket_ids`` whose stored facts differ from what their events say."""
    want: dict[int, list[Row]] = defaultdict(list)
    have: dict[int, list[Row]] = defaultdict(list)
    for r in await compute(session, ticket_ids):
        want[r.ticket_id].append(r)
    for r in await stored(session, ticket_ids):
        have[r.ticket_id].append(r)
    wrong = []
    for ticket_id in sorted(set(want) | set(have)):
        a, b = sorted(want[ticket_id], key=_order), sorted(have[ticket_id], key=_order)
        # A stored bucket that is not its value's would make long reports' percentiles wrong.
        misplaced = any(y.bucket != bucket_of(y.value) for y in b)
        if misplaced or len(a) != len(b) or not all(_same(x, y) for x, y in zip(a, b, strict=True)):
            wrong.append(ticket_id)
    return wrong


def _order(r: Row) -> tuple[str, float, float]:
    return (r.kind, r.at.timestamp(), -1.0 if r.value is None else r.value)


async def ticket_batch(session: AsyncSession, *, after: int, size: int) -> list[int]:
    """The next ``size`` ticket ids above ``after``: how the backfill and the check walk the desk."""
    query = select(Ticket.id).where(Ticket.id > after).order_by(Ticket.id).limit(size)
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class Pass:
    """One batch of a walk over the desk: the last ticket id seen, and the tickets it fixed."""

    last_id: int | None  # None: no ticket above ``after``, the walk is over
    tickets: int
    wrong: list[int]


async def backfill_batch(session: AsyncSession, *, after: int, size: int) -> Pass:
    """Recompute the facts of the next ``size`` tickets above ``after``."""
    ids = await ticket_batch(session, after=after, size=size)
    if not ids:
        return Pass(None, 0, [])
    await refresh(session, ids)
    return Pass(ids[-1], len(ids), [])


async def check_batch(session: AsyncSession, *, after: int, size: int, repair: bool) -> Pass:
    """Compare the stored facts of the next ``size`` tickets with their events; with ``repair``,
    recompute the ones that differ."""
    ids = await ticket_batch(session, after=after, size=size)
    if not ids:
        return Pass(None, 0, [])
    wrong = await differences(session, ids)
    if repair and wrong:
        await refresh(session, wrong)
    return Pass(ids[-1], len(ids), wrong)
