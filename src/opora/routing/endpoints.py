"""/api/v1/routing (settings, queue), /api/v1/me/presence and /api/v1/tickets/{id}/escalate."""

from __future__ import annotations

from fastapi import APIRouter

from opora.auth.deps import CurrentPrincipal, Supervisor, Uow, Writer
from opora.kit.errors import Forbidden
from opora.routing import service
from opora.routing.schemas import (
    AgentRoutingOut,
    AgentRoutingUpdate,
    EscalateIn,
    PresenceIn,
    PresenceOut,
    QueueOut,
    TeamRoutingOut,
    TeamRoutingUpdate,
)
from opora.tickets import service as tickets_service
from opora.tickets.schemas import TicketOut

router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/routing/teams")
async def list_team_settings(uow: Uow, _supervisor: Supervisor) -> list[TeamRoutingOut]:
    return await service.list_team_settings(uow)


@router.get("/routing/teams/{team_id}")
async def get_team_settings(team_id: int, uow: Uow, _supervisor: Supervisor) -> TeamRoutingOut:
    return await service.get_team_settings(uow, team_id)


@router.patch("/routing/teams/{team_id}")
async def update_team_settings(
    team_id: int, data: TeamRoutingUpdate, uow: Uow, _supervisor: Supervisor
) -> TeamRoutingOut:
    return await service.update_team_settings(uow, team_id, data)


@router.get("/routing/agents/{agent_id}")
async def get_agent_settings(agent_id: int, uow: Uow, principal: CurrentPrincipal) -> AgentRoutingOut:
    if agent_id != principal.agent_id and not principal.sees_all_tickets:
        raise Forbidden("Agents may read only their own routing settings.")
    return await service.get_agent_settings(uow, agent_id)


@router.patch("/routing/agents/{agent_id}")
async def update_agent_settings(
    agent_id: int, data: AgentRoutingUpdate, uow: Uow, _supervisor: Supervisor
) -> AgentRoutingOut:
    return await service.update_agent_settings(uow, agent_id, data)


@router.get("/routing/queue")
async def get_queue(uow: Uow, _supervisor: Supervisor, team_id: int | None = None) -> QueueOut:
    return QueueOut(team_id=team_id, items=await service.queue(uow, team_id))


@router.put("/me/presence")
async def set_presence(data: PresenceIn, uow: Uow, principal: CurrentPrincipal) -> PresenceOut:
    agent, changed, assigned = await service.set_presence(
        uow, principal.agent_id, data.presence, actor_id=principal.agent_id
    )
    return PresenceOut(
        agent_id=agent.id,
        presence=data.presence,
        changed=changed,
        assigned_ticket_ids=[ticket_id for ticket_id, agent_id in assigned if agent_id == agent.id],
    )


@router.post("/tickets/{ticket_id}/escalate")
async def escalate_ticket(ticket_id: int, data: EscalateIn, uow: Uow, principal: Writer) -> TicketOut:
    """Move the ticket to the second line with a reason; the new team's routing picks the agent."""
    ticket = await tickets_service.visible_ticket(uow, principal, ticket_id, write=True)
    await service.escalate(uow, ticket, reason=data.reason, actor=principal.actor, to_team_id=data.team_id)
    return (await tickets_service.ticket_out(uow, [ticket]))[0]
