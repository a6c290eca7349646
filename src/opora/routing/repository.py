"""All SQL of routing: settings, the snapshot for a decision (under locks) and the queues."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Role, TeamMember
from opora.bot import repository as bot_repo
from opora.customers.models import Customer
from opora.events.models import TicketEvent
from opora.kit.readcache import cached, copy_row, watch
from opora.routing.models import AgentRouting, PresenceChange, TeamRouting
from opora.tickets.models import Ticket, TicketTag

# An agent carries the tickets it is working on; pending and on-hold tickets wait on someone else.
LOAD_STATUSES = ("new", "open")
# Unassigned tickets in these states wait in their team's queue.
QUEUE_STATUSES = ("new", "open")
# Kinds after which a ticket starts waiting in a (new) team queue: the skill fallback counts from there.
QUEUE_ENTRY_KINDS = ("ticket_created", "team_changed")
VIP_SEGMENT = "vip"
VIP_TAG = "vip"


class TicketRow(NamedTuple):
    id: int
    team_id: int | None
    assignee_id: int | None
    status: str


async def get_team_settings(session: AsyncSession, team_id: int) -> TeamRouting | None:
    return await session.get(TeamRouting, team_id)


# Every ticket event's routing reaction reads the teams' settings; admins edit them.
watch(TeamRouting.__tablename__)


async def team_settings_for(session: AsyncSession, team_ids: Collection[int]) -> dict[int, TeamRouting]:
    """Read-only copies from the process's cache (kit.readcache): all teams' rows, one table."""
    if not team_ids:
        return {}

    async def load() -> dict[int, TeamRouting]:
        return {row.team_id: copy_row(row) for row in await session.scalars(select(TeamRouting))}

    every = await cached(session, "routing.team_settings", load)
    return {team_id: every[team_id] for team_id in sorted(team_ids) if team_id in every}


async def list_team_settings(session: AsyncSession) -> Sequence[TeamRouting]:
    return (await session.scalars(select(TeamRouting).order_by(TeamRouting.team_id))).all()


async def get_agent_settings(session: AsyncSession, agent_id: int) -> AgentRouting | None:
    return await session.get(AgentRouting, agent_id)


async def agent_settings_for(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, AgentRouting]:
    if not agent_ids:
        return {}
    rows = await session.scalars(select(AgentRouting).where(AgentRouting.agent_id.in_(sorted(agent_ids))))
    return {row.agent_id: row for row in rows}


async def members_by_team(session: AsyncSession, team_ids: Collection[int]) -> dict[int, list[int]]:
    """Members who can be assigned tickets: active and not read-only."""
    result: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    if not team_ids:
        return result
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.agent_id)
        .join(Agent, Agent.id == TeamMember.agent_id)
        .where(TeamMember.team_id.in_(sorted(team_ids)), Agent.is_active, Agent.role != Role.READONLY)
        .order_by(TeamMember.team_id, TeamMember.agent_id)
    )
    for team_id, agent_id in rows:
        result[team_id].append(agent_id)
    return result


async def team_ids_of_agents(session: AsyncSession, agent_ids: Collection[int]) -> set[int]:
    if not agent_ids:
        return set()
    rows = await session.scalars(
        select(TeamMember.team_id).where(TeamMember.agent_id.in_(sorted(agent_ids))).distinct()
    )
    return set(rows.all())


async def lock_agents(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, str]:
    """Lock the agents' rows in id order and read their presence as committed by now.

    Whoever assigns to an agent holds its row until commit, so a concurrent transaction counts
    that agent's load only after the assignment is visible: capacity cannot be overrun. On SQLite
    the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    """
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(Agent.id, Agent.presence)
        .where(Agent.id.in_(sorted(agent_ids)))
        .order_by(Agent.id)
        .with_for_update()
    )
    return {agent_id: presence for agent_id, presence in rows}


async def open_load(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {agent_id: {} for agent_id in agent_ids}
    if not agent_ids:
        return result
    rows = await session.execute(
        select(Ticket.assignee_id, Ticket.channel_type, func.count())
        .where(Ticket.assignee_id.in_(sorted(agent_ids)), Ticket.status.in_(LOAD_STATUSES))
        .group_by(Ticket.assignee_id, Ticket.channel_type)
    )
    for agent_id, channel, count in rows:
        if agent_id is not None:
            result[agent_id][channel] = int(count)
    return result


async def queued_tickets(
    session: AsyncSession, team_ids: Collection[int], *, limit: int, lock: bool
) -> Sequence[Ticket]:
    """Waiting tickets of the teams, oldest first (the serve order is decided in memory).

    ``lock`` takes them FOR UPDATE SKIP LOCKED: a ticket another transaction is changing is left
    to that transaction's own routing, instead of waiting for it (which could deadlock).
    """
    if not team_ids:
        return []
    query = (
        select(Ticket)
        .where(
            Ticket.team_id.in_(sorted(team_ids)),
            Ticket.assignee_id.is_(None),
            Ticket.status.in_(QUEUE_STATUSES),
            Ticket.merged_into_id.is_(None),
            # The bot answers first; the ticket joins the queue when it hands off.
            bot_repo.not_in_bot_mode(Ticket.id),
        )
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return (await session.scalars(query)).all()


async def vip_ticket_ids(session: AsyncSession, tickets: Sequence[Ticket]) -> set[int]:
    """Tickets of customers in the VIP segment, or tagged "vip"."""
    if not tickets:
        return set()
    ids = sorted(t.id for t in tickets)
    by_segment = await session.scalars(
        select(Ticket.id)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.id.in_(ids), func.lower(Customer.segment) == VIP_SEGMENT)
    )
    by_tag = await session.scalars(
        select(TicketTag.ticket_id).where(TicketTag.ticket_id.in_(ids), TicketTag.tag == VIP_TAG)
    )
    return set(by_segment.all()) | set(by_tag.all())


async def waiting_since(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, datetime]:
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
        .where(TicketEvent.ticket_id.in_(sorted(ticket_ids)), TicketEvent.kind.in_(QUEUE_ENTRY_KINDS))
        .group_by(TicketEvent.ticket_id)
    )
    return {ticket_id: since for ticket_id, since in rows if since is not None}


async def ticket_rows(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, TicketRow]:
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(Ticket.id, Ticket.team_id, Ticket.assignee_id, Ticket.status).where(
            Ticket.id.in_(sorted(ticket_ids))
        )
    )
    return {row[0]: TicketRow(*row) for row in rows}


def add_presence_change(
    session: AsyncSession, *, agent_id: int, old: str, new: str, actor_id: int | None, at: datetime
) -> None:
    session.add(PresenceChange(agent_id=agent_id, old=old, new=new, actor_id=actor_id, created_at=at))
