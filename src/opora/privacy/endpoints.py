"""/api/v1/privacy: export, erasure, retention and the access log. Admins only: these are the
operations a data-protection request needs, and each one is itself written to the access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from opora.auth.deps import Admin, RuntimeDep, Uow
from opora.customers.schemas import MAX_ID
from opora.privacy import service
from opora.privacy.access import entries
from opora.privacy.schemas import AccessOut, EraseIn, ErasureOut, RetentionIn, RetentionOut

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
CustomerIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/customers/{customer_id}/export", response_class=Response)
async def export_customer(
    customer_id: CustomerIdPath, uow: Uow, runtime: RuntimeDep, admin: Admin
) -> Response:
    """A zip with customer.json and the customer's attachments."""
    data = await service.export(uow, runtime.storage, agent_id=admin.agent_id, customer_id=customer_id)
    return Response(
        content=data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"'},
    )


@router.post("/customers/{customer_id}/erase")
async def erase_customer(
    customer_id: CustomerIdPath, data: EraseIn, uow: Uow, runtime: RuntimeDep, admin: Admin
) -> ErasureOut:
    """Irreversible. Body: ``{"confirm": <the same customer id>}``."""
    result = await service.erase(
        uow, runtime.storage, customer_id=customer_id, actor_id=admin.agent_id, confirm=data.confirm
    )
    return ErasureOut(
        customer_id=result.customer_id,
        tickets=result.tickets,
        messages=result.messages,
        files_deleted=result.files_deleted,
    )


@router.get("/retention")
async def get_retention(uow: Uow, _admin: Admin) -> RetentionOut:
    return RetentionOut(closed_ticket_months=await service.get_retention(uow))


@router.put("/retention")
async def put_retention(data: RetentionIn, uow: Uow, _admin: Admin) -> RetentionOut:
    return RetentionOut(closed_ticket_months=await service.set_retention(uow, data.closed_ticket_months))


@router.get("/access-log")
async def access_log(
    uow: Uow,
    _admin: Admin,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AccessOut]:
    """Newest first; page with ``before_id`` = the last id seen."""
    rows = await entries(uow, customer_id=customer_id, agent_id=agent_id, before_id=before_id, limit=limit)
    return [AccessOut.model_validate(r) for r in rows]
