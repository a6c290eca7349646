"""/api/v1/incidents: incidents, their linked tickets, updates to every linked customer."""

from __future__ import annotations

from fastapi import APIRouter, Response

from opora.auth.deps import CurrentPrincipal, Supervisor, Uow
from opora.incidents import repository, service
from opora.incidents.models import Incident
from opora.incidents.schemas import (
    IncidentIn,
    IncidentOut,
    IncidentUpdateIn,
    LinkedOut,
    LinkIn,
    PostIn,
    UpdateOut,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


async def _out(uow: Uow, incidents: list[Incident]) -> list[IncidentOut]:
    counts = await repository.linked_counts(uow.session, [i.id for i in incidents])
    return [
        IncidentOut.model_validate(
            {
                **{c.key: getattr(i, c.key) for c in Incident.__table__.columns},
                "linked_tickets": counts.get(i.id, 0),
            }
        )
        for i in incidents
    ]


@router.get("")
async def list_incidents(uow: Uow, _principal: CurrentPrincipal, active: bool = False) -> list[IncidentOut]:
    """Newest first; every agent may read them (the status text helps answer customers)."""
    return await _out(uow, list(await repository.list_incidents(uow.session, active_only=active, limit=200)))


@router.post("", status_code=201)
async def create_incident(data: IncidentIn, uow: Uow, principal: Supervisor) -> IncidentOut:
    return (await _out(uow, [await service.create(uow, principal, data)]))[0]


@router.get("/{incident_id}")
async def get_incident(incident_id: int, uow: Uow, _principal: CurrentPrincipal) -> IncidentOut:
    return (await _out(uow, [await service.get(uow, incident_id)]))[0]


@router.patch("/{incident_id}")
async def update_incident(
    incident_id: int, data: IncidentUpdateIn, uow: Uow, principal: Supervisor
) -> IncidentOut:
    return (await _out(uow, [await service.update(uow, principal, incident_id, data)]))[0]


@router.get("/{incident_id}/tickets")
async def linked_tickets(incident_id: int, uow: Uow, _principal: Supervisor) -> list[LinkedOut]:
    await service.get(uow, incident_id)
    return [LinkedOut.model_validate(t) for t in await repository.linked(uow.session, incident_id)]


@router.post("/{incident_id}/tickets")
async def link_tickets(incident_id: int, data: LinkIn, uow: Uow, principal: Supervisor) -> list[LinkedOut]:
    await service.link_by_hand(uow, principal, incident_id, data.ticket_ids)
    return [LinkedOut.model_validate(t) for t in await repository.linked(uow.session, incident_id)]


@router.delete("/{incident_id}/tickets/{ticket_id}", status_code=204)
async def unlink_ticket(incident_id: int, ticket_id: int, uow: Uow, principal: Supervisor) -> Response:
    await service.unlink(uow, principal, incident_id, ticket_id)
    return Response(status_code=204)


@router.get("/{incident_id}/updates")
async def list_updates(incident_id: int, uow: Uow, _principal: CurrentPrincipal) -> list[UpdateOut]:
    await service.get(uow, incident_id)
    return [UpdateOut.model_validate(u) for u in await repository.updates(uow.session, incident_id)]


@router.post("/{incident_id}/updates", status_code=201)
async def post_update(incident_id: int, data: PostIn, uow: Uow, principal: Supervisor) -> UpdateOut:
    """Queue the text as a public reply on every linked ticket that is not closed."""
    return UpdateOut.model_validate(await service.post_update(uow, principal, incident_id, data.text))


@router.post("/{incident_id}/resolve", status_code=201)
async def resolve(incident_id: int, data: PostIn, uow: Uow, principal: Supervisor) -> UpdateOut:
    """Resolve: the final message goes to every linked customer and solves their tickets."""
    return UpdateOut.model_validate(await service.resolve(uow, principal, incident_id, data.text))
