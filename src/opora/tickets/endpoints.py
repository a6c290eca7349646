"""/api/v1/tickets: list, create, read, change, merge; messages and events of a ticket."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from opora.auth.deps import CurrentPrincipal, RuntimeDep, Uow, Writer
from opora.kit.http import content_disposition
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, split_page
from opora.kit.schema import Page
from opora.tickets import repository, service
from opora.tickets.lifecycle import Status
from opora.tickets.repository import TicketFilter
from opora.tickets.schemas import (
    EventOut,
    MergeIn,
    MessageIn,
    MessageOut,
    TicketCreate,
    TicketOut,
    TicketUpdate,
)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("")
async def list_tickets(
    uow: Uow,
    principal: CurrentPrincipal,
    status: Annotated[list[Status] | None, Query()] = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    channel: Annotated[str | None, Query(max_length=30)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    customer_id: int | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    updated_since: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[TicketOut]:
    f = TicketFilter(
        statuses=list(status or []),
        assignee_id=assignee_id,
        unassigned=unassigned,
        team_id=team_id,
        channel_type=channel,
        tag=tag.lower() if tag else None,
        customer_id=customer_id,
        text=q,
        updated_since=updated_since,
    )
    tickets, next_cursor = await service.list_tickets(uow, principal, f, limit=limit, cursor=cursor)
    return Page(items=await service.ticket_out(uow, tickets), next_cursor=next_cursor)


@router.post("", status_code=201)
async def create_ticket(data: TicketCreate, uow: Uow, principal: Writer) -> TicketOut:
    ticket = await service.create_ticket(uow, principal, data)
    return (await service.ticket_out(uow, [ticket]))[0]


@router.get("/{ticket_id}")
async def get_ticket(ticket_id: int, uow: Uow, principal: CurrentPrincipal) -> TicketOut:
    ticket = await service.visible_ticket(uow, principal, ticket_id)
    return (await service.ticket_out(uow, [ticket]))[0]


@router.patch("/{ticket_id}")
async def update_ticket(ticket_id: int, data: TicketUpdate, uow: Uow, principal: Writer) -> TicketOut:
    ticket = await service.update_ticket(uow, principal, ticket_id, data)
    return (await service.ticket_out(uow, [ticket]))[0]


@router.post("/{ticket_id}/merge")
async def merge_ticket(ticket_id: int, data: MergeIn, uow: Uow, principal: Writer) -> TicketOut:
    """Move this ticket's messages into the target ticket and close this one."""
    target = await service.merge_tickets(uow, principal, ticket_id, data.target_ticket_id)
    return (await service.ticket_out(uow, [target]))[0]


@router.get("/{ticket_id}/messages")
async def list_messages(
    ticket_id: int,
    uow: Uow,
    principal: CurrentPrincipal,
    include_internal: bool = True,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[MessageOut]:
    await service.visible_ticket(uow, principal, ticket_id)
    after = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_messages(
        uow.session, ticket_id, include_internal=include_internal, limit=limit + 1, after_id=after
    )
    rows, next_cursor = split_page(found, limit, lambda message: (message.id,))
    return Page(items=await service.message_out(uow, rows), next_cursor=next_cursor)


@router.post("/{ticket_id}/messages", status_code=201)
async def add_message(ticket_id: int, data: MessageIn, uow: Uow, principal: Writer) -> MessageOut:
    message = await service.add_message(uow, principal, ticket_id, data)
    return (await service.message_out(uow, [message]))[0]


@router.get("/{ticket_id}/events")
async def list_events(
    ticket_id: int,
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[EventOut]:
    await service.visible_ticket(uow, principal, ticket_id)
    after = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_events(uow.session, ticket_id, limit=limit + 1, after_id=after)
    rows, next_cursor = split_page(found, limit, lambda event: (event.id,))
    return Page(items=[EventOut.model_validate(e) for e in rows], next_cursor=next_cursor)


attachments_router = APIRouter(prefix="/api/v1/attachments", tags=["tickets"])


@attachments_router.get("/{attachment_id}", response_class=Response)
async def download_attachment(
    attachment_id: int, uow: Uow, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Response:
    """The file, for agents who may see its ticket; always as a download, never rendered inline."""
    attachment, _ticket = await service.visible_attachment(uow, principal, attachment_id)
    data = await asyncio.to_thread(runtime.storage.get, attachment.sha256)
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            # A hostile HTML or SVG file must not run in the desk's origin.
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
