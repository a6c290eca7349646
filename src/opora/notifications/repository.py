"""All SQL about notifications, and the few reads of other tables that deciding them needs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from opora.agents.models import Agent, TeamMember
from opora.notifications.models import Notification
from opora.tickets.models import Message, Ticket


@dataclass(frozen=True, slots=True)
class TicketBrief:
    subject: str
    team_id: int | None
    assignee_id: int | None


@dataclass(frozen=True, slots=True)
class NoteBrief:
    text: str
    author_agent_id: int | None


@dataclass(frozen=True, slots=True)
class AgentAccess:
    email: str
    name: str
    role: str
    team_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class Listed:
    notification: Notification
    actor_name: str | None
    ticket_subject: str | None


async def tickets_brief(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, TicketBrief]:
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(Ticket.id, Ticket.subject, Ticket.team_id, Ticket.assignee_id).where(
            Ticket.id.in_(sorted(ticket_ids))
        )
    )
    return {row.id: TicketBrief(row.subject, row.team_id, row.assignee_id) for row in rows}


async def notes_brief(session: AsyncSession, message_ids: Collection[int]) -> dict[int, NoteBrief]:
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Message.id, Message.text, Message.author_agent_id).where(
            Message.id.in_(sorted(message_ids)), Message.is_internal.is_(True)
        )
    )
    return {row.id: NoteBrief(row.text, row.author_agent_id) for row in rows}


async def active_agents(
    session: AsyncSession, agent_ids: Collection[int] | None = None
) -> dict[int, AgentAccess]:
    """Active agents with their teams (all of them when ``agent_ids`` is None): two queries."""
    query = select(Agent.id, Agent.email, Agent.name, Agent.role).where(Agent.is_active.is_(True))
    if agent_ids is not None:
        if not agent_ids:
            return {}
        query = query.where(Agent.id.in_(sorted(agent_ids)))
    agents = (await session.execute(query)).all()
    teams: dict[int, set[int]] = {row.id: set() for row in agents}
    if agents:
        members = await session.execute(
            select(TeamMember.agent_id, TeamMember.team_id).where(TeamMember.agent_id.in_(sorted(teams)))
        )
        for agent_id, team_id in members:
            teams[agent_id].add(team_id)
    return {row.id: AgentAccess(row.email, row.name, row.role, frozenset(teams[row.id])) for row in agents}


def add_all(session: AsyncSession, rows: Sequence[Notification]) -> None:
    # No flush: the rows go out with the transaction's commit, batched with each other.
    session.add_all(rows)


async def list_for(
    session: AsyncSession, agent_id: int, *, unread_only: bool, limit: int, before_id: int | None
) -> list[Listed]:
    """Newest first, keyset-paginated on id, with the actor's name and the ticket's subject."""
    actor = aliased(Agent)
    query = (
        select(Notification, actor.name, Ticket.subject)
        .outerjoin(actor, actor.id == Notification.actor_id)
        .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
        .where(Notification.agent_id == agent_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return [Listed(n, name, subject) for n, name, subject in (await session.execute(query)).all()]


async def unread_count(session: AsyncSession, agent_id: int) -> int:
    query = select(func.count()).where(Notification.agent_id == agent_id, Notification.read_at.is_(None))
    return int(await session.scalar(query) or 0)


async def mark_read(
    session: AsyncSession, agent_id: int, ids: Sequence[int] | None, now: datetime
) -> list[int]:
    """Mark the agent's unread notifications (those of ``ids``, or all) read; their ids."""
    query = (
        update(Notification)
        .where(Notification.agent_id == agent_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .returning(Notification.id)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(sorted(set(ids))))
    return sorted((await session.scalars(query)).all())
