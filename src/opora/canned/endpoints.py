"""/api/v1/canned: the templates library, and filling a template in for a ticket."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from opora.auth.deps import CurrentPrincipal, Uow
from opora.canned import service
from opora.canned.models import CannedLanguage
from opora.canned.repository import CannedFilter
from opora.canned.schemas import CannedCreate, CannedOut, CannedUpdate, RenderIn, RenderOut
from opora.canned.variables import fold
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1/canned", tags=["canned"])


@router.get("")
async def list_canned(
    uow: Uow,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    language: CannedLanguage | None = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    scope: Literal["personal", "shared"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[CannedOut]:
    """The caller's own templates and the shared ones, in title order.

    ``q`` matches title, shortcut, tags and body in any letter case (Cyrillic too); ``language``
    keeps templates in that language plus those marked ``any``.
    """
    f = CannedFilter(
        viewer_id=principal.agent_id,
        q=q,
        language=language if language not in (None, CannedLanguage.ANY) else None,
        tag=fold(tag) if tag else None,
        scope=scope,
    )
    rows, next_cursor = await service.list_canned(uow, principal, f, limit=limit, cursor=cursor)
    return Page(items=service.canned_out(rows), next_cursor=next_cursor)


@router.get("/search")
async def search_canned(
    uow: Uow,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    language: CannedLanguage | None = None,
    limit: Annotated[int, Query(ge=1, le=service.SEARCH_LIMIT_MAX)] = 20,
) -> list[CannedOut]:
    """The composer's picker: an exact shortcut first, then titles starting with ``q``."""
    lang = language if language not in (None, CannedLanguage.ANY) else None
    return service.canned_out(await service.search(uow, principal, q, language=lang, limit=limit))


@router.post("", status_code=201)
async def create_canned(data: CannedCreate, uow: Uow, principal: CurrentPrincipal) -> CannedOut:
    return service.canned_out([await service.create(uow, principal, data)])[0]


@router.get("/{canned_id}")
async def get_canned(canned_id: int, uow: Uow, principal: CurrentPrincipal) -> CannedOut:
    return service.canned_out([await service.visible(uow, principal, canned_id)])[0]


@router.patch("/{canned_id}")
async def update_canned(
    canned_id: int, data: CannedUpdate, uow: Uow, principal: CurrentPrincipal
) -> CannedOut:
    return service.canned_out([await service.update(uow, principal, canned_id, data)])[0]


@router.delete("/{canned_id}", status_code=204, response_class=Response)
async def delete_canned(canned_id: int, uow: Uow, principal: CurrentPrincipal) -> None:
    await service.delete(uow, principal, canned_id)


@router.post("/{canned_id}/render")
async def render_canned(canned_id: int, data: RenderIn, uow: Uow, principal: CurrentPrincipal) -> RenderOut:
    """The body with its variables filled in for the ticket, the customer and the calling agent."""
    text = await service.render_for(uow, principal, canned_id, data.ticket_id)
    return RenderOut(canned_id=canned_id, ticket_id=data.ticket_id, text=text)
