"""/api/v1/agents and /api/v1/teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from opora.agents import repository, service
from opora.agents.schemas import AgentCreate, AgentOut, AgentUpdate, TeamCreate, TeamOut, TeamUpdate
from opora.auth.deps import Admin, CurrentPrincipal, Uow
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, split_page
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1", tags=["agents"])


@router.get("/agents")
async def list_agents(
    uow: Uow,
    _principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AgentOut]:
    after = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await repository.list_agents(uow.session, limit=limit + 1, after_id=after)
    agents, next_cursor = split_page(rows, limit, lambda agent: (agent.id,))
    return Page(items=await service.agent_out(uow, agents), next_cursor=next_cursor)


@router.post("/agents", status_code=201)
async def create_agent(data: AgentCreate, uow: Uow, _admin: Admin) -> AgentOut:
    agent = await service.create_agent(uow, data)
    return (await service.agent_out(uow, [agent]))[0]


@router.get("/agents/{agent_id}")
async def get_agent(agent_id: int, uow: Uow, _principal: CurrentPrincipal) -> AgentOut:
    return (await service.agent_out(uow, [await service.get_agent(uow, agent_id)]))[0]


@router.patch("/agents/{agent_id}")
async def update_agent(agent_id: int, data: AgentUpdate, uow: Uow, principal: CurrentPrincipal) -> AgentOut:
    agent = await service.update_agent(uow, principal, agent_id, data)
    return (await service.agent_out(uow, [agent]))[0]


@router.get("/teams")
async def list_teams(uow: Uow, _principal: CurrentPrincipal) -> list[TeamOut]:
    return [await service.team_out(uow, team) for team in await repository.list_teams(uow.session)]


@router.post("/teams", status_code=201)
async def create_team(data: TeamCreate, uow: Uow, _admin: Admin) -> TeamOut:
    return await service.team_out(uow, await service.create_team(uow, data))


@router.get("/teams/{team_id}")
async def get_team(team_id: int, uow: Uow, _principal: CurrentPrincipal) -> TeamOut:
    return await service.team_out(uow, await service.get_team(uow, team_id))


@router.patch("/teams/{team_id}")
async def update_team(team_id: int, data: TeamUpdate, uow: Uow, _admin: Admin) -> TeamOut:
    return await service.team_out(uow, await service.update_team(uow, team_id, data))
