"""All SQL of the SLA module: policies, calendars, clocks, settings, and the inbox's read side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Calendar, Team
from opora.channels.models import Channel
from opora.customers.models import Customer
from opora.kit.readcache import cached, copy_row, watch
from opora.sla.clock import SlaBadge, most_urgent
from opora.sla.models import CalendarOverride, SlaPolicy, SlaSettings, TicketSla
from opora.tickets.models import AuthorType, Direction, Message, Ticket

SETTINGS_ID = 1

# -- policies ---------------------------------------------------------------------------------------


async def list_policies(session: AsyncSession, *, active_only: bool = False) -> Sequence[SlaPolicy]:
    query = select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)
    if active_only:
        query = query.where(SlaPolicy.is_active.is_(True))
    return (await session.scalars(query)).all()


async def get_policy(session: AsyncSession, policy_id: int) -> SlaPolicy | None:
    return await session.get(SlaPolicy, policy_id)


async def policy_by_name(session: AsyncSession, name: str) -> SlaPolicy | None:
    return (await session.scalars(select(SlaPolicy).where(SlaPolicy.name == name))).first()


async def policies_using_calendar(session: AsyncSession, calendar_id: int) -> list[int]:
    # Targets are JSON; the list is short enough to filter here rather than per dialect in SQL.
    found = []
    for policy in await list_policies(session):
        if any((t or {}).get("calendar_id") == calendar_id for t in policy.targets.values()):
            found.append(policy.id)
    return found


# -- calendars --------------------------------------------------------------------------------------


async def list_calendars(session: AsyncSession) -> Sequence[Calendar]:
    return (await session.scalars(select(Calendar).order_by(Calendar.id))).all()


async def get_calendar(
    session: AsyncSession, calendar_id: int, *, for_update: bool = False
) -> Calendar | None:
    return await session.get(Calendar, calendar_id, with_for_update=for_update or None)


async def calendar_by_name(session: AsyncSession, name: str) -> Calendar | None:
    return (await session.scalars(select(Calendar).where(Calendar.name == name))).first()


async def calendars_by_id(session: AsyncSession, calendar_ids: Sequence[int]) -> dict[int, Calendar]:
    if not calendar_ids:
        return {}
    rows = await session.scalars(select(Calendar).where(Calendar.id.in_(set(calendar_ids))))
    return {row.id: row for row in rows}


async def overrides_of(
    session: AsyncSession, calendar_ids: Sequence[int]
) -> dict[int, list[CalendarOverride]]:
    result: dict[int, list[CalendarOverride]] = {cid: [] for cid in calendar_ids}
    if not calendar_ids:
        return result
    rows = await session.scalars(
        select(CalendarOverride)
        .where(CalendarOverride.calendar_id.in_(set(calendar_ids)))
        .order_by(CalendarOverride.calendar_id, CalendarOverride.day)
    )
    for row in rows:
        result.setdefault(row.calendar_id, []).append(row)
    return result


async def replace_overrides(session: AsyncSession, calendar_id: int, rows: Sequence[dict[str, Any]]) -> None:
    await session.execute(delete(CalendarOverride).where(CalendarOverride.calendar_id == calendar_id))
    session.add_all([CalendarOverride(calendar_id=calendar_id, **row) for row in rows])
    await session.flush()


async def existing_calendar_ids(session: AsyncSession, calendar_ids: Sequence[int]) -> set[int]:
    if not calendar_ids:
        return set()
    return set((await session.scalars(select(Calendar.id).where(Calendar.id.in_(set(calendar_ids))))).all())


async def existing_team_ids(session: AsyncSession, team_ids: Sequence[int]) -> set[int]:
    if not team_ids:
        return set()
    return set((await session.scalars(select(Team.id).where(Team.id.in_(set(team_ids))))).all())


# -- settings ---------------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, *, for_update: bool = False) -> SlaSettings | None:
    return await session.get(SlaSettings, SETTINGS_ID, with_for_update=for_update or None)


# Policies and settings are read by every ticket event's reactions and edited by admins.
watch(SlaPolicy.__tablename__, SlaSettings.__tablename__, Channel.__tablename__)


async def cached_settings(session: AsyncSession) -> SlaSettings | None:
    """The settings row as every message's reactions read it: a shared read-only copy (kit.readcache)."""

    async def load() -> SlaSettings | None:
        row = await get_settings(session)
        return None if row is None else copy_row(row)

    return await cached(session, "sla.settings", load)


def new_settings() -> SlaSettings:
    return SlaSettings(id=SETTINGS_ID, autoack_enabled=False, autoack_templates={}, out_of_hours_templates={})


# -- what the reactor reads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    status: str
    priority: str
    channel_type: str
    channel_id: int | None
    team_id: int | None
    assignee_id: int | None
    customer_id: int
    language: str | None
    subject: str
    first_response_at: datetime | None
    merged_into_id: int | None
    segment: str | None
    customer_name: str
    customer_language: str | None
    team_calendar_id: int | None


async def ticket_rows(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, TicketRow]:
    if not ticket_ids:
        return {}
    query = (
        select(
            Ticket.id,
            Ticket.status,
            Ticket.priority,
            Ticket.channel_type,
            Ticket.channel_id,
            Ticket.team_id,
            Ticket.assignee_id,
            Ticket.customer_id,
            Ticket.language,
            Ticket.subject,
            Ticket.first_response_at,
            Ticket.merged_into_id,
            Customer.segment,
            Customer.name,
            Customer.language,
            Team.calendar_id,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Team, Team.id == Ticket.team_id)
        .where(Ticket.id.in_(set(ticket_ids)))
    )
    return {row[0]: TicketRow(*tuple(row)) for row in await session.execute(query)}


async def clocks_for(
    session: AsyncSession, ticket_ids: Sequence[int], *, lock: bool = False
) -> list[TicketSla]:
    if not ticket_ids:
        return []
    query = select(TicketSla).where(TicketSla.ticket_id.in_(set(ticket_ids))).order_by(TicketSla.id)
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def clock(
    session: AsyncSession, ticket_id: int, metric: str, *, lock: bool = False
) -> TicketSla | None:
    query = select(TicketSla).where(TicketSla.ticket_id == ticket_id, TicketSla.metric == metric)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def message_metadata(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Message.id, Message.metadata_).where(Message.id.in_(set(message_ids)))
    )
    return {message_id: metadata or {} for message_id, metadata in rows}


async def first_inbound_metadata(
    session: AsyncSession, ticket_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Metadata of each ticket's first customer message (the one an acknowledgement answers)."""
    if not ticket_ids:
        return {}
    first = (
        select(func.min(Message.id))
        .where(Message.ticket_id.in_(set(ticket_ids)), Message.direction == Direction.IN)
        .group_by(Message.ticket_id)
    )
    rows = await session.execute(select(Message.ticket_id, Message.metadata_).where(Message.id.in_(first)))
    return {ticket_id: metadata or {} for ticket_id, metadata in rows}


async def tickets_with_automatic_reply(session: AsyncSession, ticket_ids: Sequence[int]) -> set[int]:
    """Tickets that already hold an outbound message written by the desk itself, not an agent."""
    if not ticket_ids:
        return set()
    query = select(Message.ticket_id).where(
        Message.ticket_id.in_(set(ticket_ids)),
        Message.direction == Direction.OUT,
        Message.author_type.in_((AuthorType.SYSTEM, AuthorType.BOT)),
    )
    return set((await session.scalars(query)).all())


async def channel_settings(
    session: AsyncSession, channel_ids: Sequence[int]
) -> dict[int, tuple[bool, dict[str, Any]]]:
    """Whether each channel is active and its settings: read-only, from the process's cache of
    every channel (kit.readcache; a desk has a handful)."""
    if not channel_ids:
        return {}

    async def load() -> dict[int, tuple[bool, dict[str, Any]]]:
        rows = await session.execute(select(Channel.id, Channel.is_active, Channel.settings))
        return {cid: (bool(active), settings or {}) for cid, active, settings in rows}

    every = await cached(session, "sla.channel_settings", load)
    return {cid: every[cid] for cid in set(channel_ids) if cid in every}


# -- the inbox's read side --------------------------------------------------------------------------


async def badges(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, SlaBadge]:
    """Each ticket's most urgent active target, in one query; tickets without one are absent."""
    if not ticket_ids:
        return {}
    rows = await session.scalars(
        select(TicketSla).where(TicketSla.ticket_id.in_(set(ticket_ids)), TicketSla.fulfilled_at.is_(None))
    )
    grouped: dict[int, list[TicketSla]] = {}
    for row in rows:
        grouped.setdefault(row.ticket_id, []).append(row)
    result: dict[int, SlaBadge] = {}
    for ticket_id, clocks in grouped.items():
        badge = most_urgent([(c.metric, c.state()) for c in clocks])
        if badge is not None:
            result[ticket_id] = badge
    return result


def at_risk_clause(now: datetime, horizon: timedelta) -> ColumnElement[bool]:
    """Tickets with an active target already breached or due before ``now + horizon``.

    Correlates with ``Ticket``: ``select(Ticket).where(at_risk_clause(now, timedelta(hours=1)))``.
    """
    return exists(
        select(TicketSla.id).where(
            TicketSla.ticket_id == Ticket.id,
            TicketSla.fulfilled_at.is_(None),
            or_(
                TicketSla.breached_at.is_not(None),
                and_(TicketSla.due_at.is_not(None), TicketSla.due_at < now + horizon),
            ),
        )
    )


def next_due_subquery() -> Subquery:
    """``(ticket_id, next_due_at)``: the nearest due instant of each ticket's running targets.

    Outer-join it and sort with paused or finished tickets last::

        nd = next_due_subquery()
        select(Ticket).outerjoin(nd, nd.c.ticket_id == Ticket.id)
            .order_by(nd.c.next_due_at.asc().nulls_last(), Ticket.id)
    """
    return (
        select(TicketSla.ticket_id.label("ticket_id"), func.min(TicketSla.due_at).label("next_due_at"))
        .where(TicketSla.fulfilled_at.is_(None), TicketSla.due_at.is_not(None))
        .group_by(TicketSla.ticket_id)
        .subquery("sla_next_due")
    )
