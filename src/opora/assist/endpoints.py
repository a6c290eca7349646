"""/api/v1/assist: similar solved tickets, the tone check, and the desk's style settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from opora.assist import service, tasks
from opora.assist.schemas import HintOut, ReindexOut, SettingsIn, SettingsOut, SimilarOut, ToneIn
from opora.auth.deps import Admin, CurrentPrincipal, Uow
from opora.jobs.service import enqueue

router = APIRouter(prefix="/api/v1/assist", tags=["assist"])


@router.get("/settings")
async def get_settings(uow: Uow, _principal: CurrentPrincipal) -> SettingsOut:
    return SettingsOut(discouraged_phrases=await service.discouraged_phrases(uow))


@router.put("/settings")
async def put_settings(data: SettingsIn, uow: Uow, _principal: Admin) -> SettingsOut:
    return SettingsOut(discouraged_phrases=await service.update_settings(uow, data.discouraged_phrases))


@router.post("/tone")
async def tone_check(data: ToneIn, uow: Uow, principal: CurrentPrincipal) -> list[HintOut]:
    hints = await service.tone_hints(uow, principal, data.ticket_id, data.text)
    return [HintOut(code=h.code, ru=h.ru, en=h.en) for h in hints]


@router.get("/tickets/{ticket_id}/similar")
async def similar(
    ticket_id: int,
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=10)] = service.SIMILAR_LIMIT,
) -> list[SimilarOut]:
    found = await service.similar_tickets(uow, principal, ticket_id, limit=limit)
    return [SimilarOut.model_validate(s, from_attributes=True) for s in found]


@router.post("/reindex", status_code=202)
async def reindex(uow: Uow, _principal: Admin) -> ReindexOut:
    """Rebuilds the similar-tickets index in the background (once after upgrading)."""
    job = await enqueue(uow, tasks.REINDEX_TASK, {"after_id": 0}, unique_key=tasks.REINDEX_TASK)
    return ReindexOut(queued=job is not None)
