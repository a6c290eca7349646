"""Small parts of the workspace loaded on demand: template picker, notifications panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from opora.auth.deps import Uow
from opora.canned import service as canned_service
from opora.notifications import service as notifications_service
from opora.web.templating import render
from opora.web.ui.deps import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/ui/canned")
async def canned_picker(
    request: Request,
    uow: Uow,
    viewer: ViewerDep,
    ticket_id: int,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    found = await canned_service.search(uow, viewer.principal, q.strip() or None, limit=12)
    return render(
        request, "ui/_parts.html", {"viewer": viewer, "canned": found, "ticket_id": ticket_id}, block="canned"
    )


@router.get("/ui/canned/{canned_id}/text")
async def canned_text(canned_id: int, ticket_id: int, uow: Uow, viewer: ViewerDep) -> Response:
    """The template filled in for this ticket, as plain text for the composer."""
    text = await canned_service.render_for(uow, viewer.principal, canned_id, ticket_id)
    return PlainTextResponse(text)


@router.get("/ui/notifications")
async def notifications_panel(request: Request, uow: Uow, viewer: ViewerDep) -> Response:
    items = await notifications_service.recent(uow, viewer.agent.id, limit=20)
    return render(request, "ui/_parts.html", {"viewer": viewer, "items": items}, block="notifications")


@router.post("/ui/notifications/read")
async def notifications_read(uow: Uow, viewer: ViewerDep) -> Response:
    await notifications_service.mark_read(uow, viewer.agent.id, None)
    return Response(status_code=204, headers={"HX-Trigger": "opora:notifications-read"})


@router.get("/ui/notifications/count")
async def notifications_count(uow: Uow, viewer: ViewerDep) -> Response:
    return PlainTextResponse(str(await notifications_service.unread_count(uow, viewer.agent.id)))
