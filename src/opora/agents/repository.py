"""All SQL about agents, teams and calendars."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Calendar, Team, TeamMember


async def get_agent(session: AsyncSession, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)


async def get_agent_by_email(session: AsyncSession, email: str) -> Agent | None:
    result = await session.scalars(select(Agent).where(Agent.email == email.lower()))
    return result.first()


async def list_agents(session: AsyncSession, *, limit: int, after_id: int | None) -> Sequence[Agent]:
    query = select(Agent).order_by(Agent.id).limit(limit)
    if after_id is not None:
        query = query.where(Agent.id > after_id)
    return (await session.scalars(query)).all()


async def team_ids_of(session: AsyncSession, agent_id: int) -> frozenset[int]:
    rows = await session.scalars(select(TeamMember.team_id).where(TeamMember.agent_id == agent_id))
    return frozenset(rows.all())


async def team_ids_by_agent(session: AsyncSession, agent_ids: Sequence[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {agent_id: [] for agent_id in agent_ids}
    if not agent_ids:
        return result
    rows = await session.execute(
        select(TeamMember.agent_id, TeamMember.team_id)
        .where(TeamMember.agent_id.in_(agent_ids))
        .order_by(TeamMember.team_id)
    )
    for agent_id, team_id in rows:
        result[agent_id].append(team_id)
    return result


async def set_agent_teams(session: AsyncSession, agent_id: int, team_ids: Sequence[int]) -> None:
    await session.execute(delete(TeamMember).where(TeamMember.agent_id == agent_id))
    session.add_all([TeamMember(agent_id=agent_id, team_id=team_id) for team_id in team_ids])
    await session.flush()


async def get_team(session: AsyncSession, team_id: int) -> Team | None:
    return await session.get(Team, team_id)


async def get_team_by_name(session: AsyncSession, name: str) -> Team | None:
    return (await session.scalars(select(Team).where(Team.name == name))).first()


async def list_teams(session: AsyncSession) -> Sequence[Team]:
    return (await session.scalars(select(Team).order_by(Team.id))).all()


async def existing_team_ids(session: AsyncSession, team_ids: Sequence[int]) -> set[int]:
    if not team_ids:
        return set()
    rows = await session.scalars(select(Team.id).where(Team.id.in_(team_ids)))
    return set(rows.all())


async def member_ids(session: AsyncSession, team_id: int) -> list[int]:
    rows = await session.scalars(
        select(TeamMember.agent_id).where(TeamMember.team_id == team_id).order_by(TeamMember.agent_id)
    )
    return list(rows.all())


async def member_counts(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(select(TeamMember.team_id, func.count()).group_by(TeamMember.team_id))
    return {team_id: count for team_id, count in rows}


async def get_calendar(session: AsyncSession, calendar_id: int) -> Calendar | None:
    return await session.get(Calendar, calendar_id)
