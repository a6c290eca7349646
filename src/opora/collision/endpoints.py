"""POST /api/v1/tickets/{ticket_id}/activity: collision detection for the ticket page."""

from __future__ import annotations

from fastapi import APIRouter

from opora.auth.deps import CurrentPrincipal, Uow
from opora.collision import service
from opora.collision.schemas import ActivityIn, ActivityOut

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


@router.post("/{ticket_id}/activity", status_code=202)
async def announce_activity(
    ticket_id: int, data: ActivityIn, uow: Uow, principal: CurrentPrincipal
) -> ActivityOut:
    """Tell the other agents who may see the ticket that the caller views it, types, or left.

    They receive an ``activity`` frame on ``GET /api/v1/stream``; nothing is stored.
    """
    at = await service.announce(uow, principal, ticket_id, data.state)
    return ActivityOut(ticket_id=ticket_id, state=data.state, at=at, expires_in=service.EXPIRES_SECONDS)
