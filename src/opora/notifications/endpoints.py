"""/api/v1/notifications: the caller's own notifications, the unread badge, marking read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from opora.auth.deps import CurrentPrincipal, Uow
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page
from opora.notifications import service
from opora.notifications.schemas import NotificationOut, ReadIn, ReadOut, UnreadCount

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    uow: Uow,
    principal: CurrentPrincipal,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[NotificationOut]:
    """Newest first."""
    items, next_cursor = await service.page(
        uow, principal.agent_id, unread_only=unread_only, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/unread-count")
async def unread_count(uow: Uow, principal: CurrentPrincipal) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(uow, principal.agent_id))


@router.post("/read")
async def mark_read(data: ReadIn, uow: Uow, principal: CurrentPrincipal) -> ReadOut:
    """Mark the caller's notifications read: ``{"ids": [...]}`` or ``{"all": true}``."""
    return await service.mark_read(uow, principal.agent_id, None if data.all else data.ids)
