"""Webhook intake for channels, and the admin view of stored and quarantined payloads."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request

from opora.auth.deps import Admin, RuntimeDep, Uow
from opora.channels import service as channels_service
from opora.channels.base import WebhookRequest
from opora.channels.models import Channel
from opora.inbox import repository, service
from opora.inbox.models import PayloadState
from opora.inbox.schemas import Accepted, PayloadDetail, PayloadOut
from opora.kit.errors import NotFound
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, split_page
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1", tags=["inbox"])


@router.post("/inbound/{channel_id}", status_code=202)
async def webhook(channel_id: int, request: Request, uow: Uow, runtime: RuntimeDep) -> Accepted:
    """A provider calls this; the body is stored before we answer, then processed by a job."""
    channel = await uow.session.get(Channel, channel_id)
    adapter = channels_service.adapter_for(runtime, channel) if channel and channel.is_active else None
    if channel is None or adapter is None:
        raise NotFound("No active channel here.")
    body = await request.body()
    hook = WebhookRequest(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=dict(request.query_params),
        client_host=request.client.host if request.client else None,
    )
    adapter.verify(hook)
    # Providers redeliver the same body when our answer is late; its hash is the natural key.
    # An adapter whose provider numbers its deliveries may offer payload_id() instead.
    id_of = getattr(adapter, "payload_id", None)
    key = id_of(hook) if callable(id_of) else None
    key = key or "sha256:" + hashlib.sha256(body).hexdigest()
    received = await service.receive(
        uow,
        channel_id=channel.id,
        external_id=key,
        payload=body,
        content_type=request.headers.get("content-type", "application/octet-stream"),
    )
    return Accepted(accepted=True, duplicate=not received.created)


@router.get("/admin/inbound")
async def list_payloads(
    uow: Uow,
    _admin: Admin,
    state: PayloadState | None = PayloadState.QUARANTINED,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[PayloadOut]:
    after = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_payloads(uow.session, state=state, limit=limit + 1, after_id=after)
    rows, next_cursor = split_page(found, limit, lambda payload: (payload.id,))
    return Page(items=[PayloadOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/admin/inbound/{payload_id}")
async def get_payload(payload_id: int, uow: Uow, _admin: Admin) -> PayloadDetail:
    row = await repository.get_payload(uow.session, payload_id)
    if row is None:
        raise NotFound(f"Inbound payload {payload_id} does not exist.")
    return PayloadDetail.model_validate(row)


@router.post("/admin/inbound/{payload_id}/retry")
async def retry_payload(payload_id: int, uow: Uow, _admin: Admin) -> PayloadOut:
    return PayloadOut.model_validate(await service.retry_payload(uow, payload_id))
