"""Read models of the workspace pages: everything a page shows, in a fixed number of queries.

The number of queries a page makes must not grow with the number of rows it shows (tests count
them), so every helper here takes the ids of a whole page and answers for all of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Team, TeamMember
from opora.customers.models import Customer, CustomerIdentity
from opora.tickets.models import Message, Ticket


@dataclass
class Directory:
    """Agents and teams by id: a desk has tens or hundreds, so one query each per page is cheap."""

    agents: dict[int, Agent] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)  # team id -> agent ids

    def agent_name(self, agent_id: int | None) -> str:
        agent = self.agents.get(agent_id) if agent_id is not None else None
        return agent.name if agent else ""

    def team_name(self, team_id: int | None) -> str:
        team = self.teams.get(team_id) if team_id is not None else None
        return team.name if team else ""

    def active_agents(self) -> list[Agent]:
        return sorted((a for a in self.agents.values() if a.is_active), key=lambda a: a.name.lower())


async def directory(session: AsyncSession) -> Directory:
    agents = {a.id: a for a in await session.scalars(select(Agent))}
    teams = {t.id: t for t in await session.scalars(select(Team).order_by(Team.name))}
    members: dict[int, list[int]] = {team_id: [] for team_id in teams}
    for team_id, agent_id in await session.execute(select(TeamMember.team_id, TeamMember.agent_id)):
        members.setdefault(team_id, []).append(agent_id)
    return Directory(agents, teams, members)


async def customers_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Customer]:
    if not ids:
        return {}
    return {c.id: c for c in await session.scalars(select(Customer).where(Customer.id.in_(set(ids))))}


async def identities_of(session: AsyncSession, customer_id: int) -> list[CustomerIdentity]:
    query = (
        select(CustomerIdentity)
        .where(CustomerIdentity.customer_id == customer_id)
        .order_by(CustomerIdentity.kind, CustomerIdentity.id)
    )
    return list(await session.scalars(query))


async def other_tickets(
    session: AsyncSession, customer_id: int, ticket_id: int, *, limit: int = 10
) -> list[Ticket]:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.id != ticket_id, Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def timeline_messages(
    session: AsyncSession, ticket_id: int, *, include_internal: bool
) -> list[Message]:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
    if not include_internal:
        query = query.where(Message.is_internal.is_(False))
    return list(await session.scalars(query))
