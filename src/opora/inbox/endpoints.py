"""Webhook intake for channels, and the admin view of stored and quarantined payloads."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from opora.auth.deps import Admin, RuntimeDep, Uow
from opora.channels import service as channels_service
from opora.channels.base import ChannelAdapter, Handshakes, WebhookReply, WebhookRequest
from opora.channels.models import Channel
from opora.inbox import repository, service
from opora.inbox.models import PayloadState
from opora.inbox.schemas import Accepted, PayloadDetail, PayloadOut
from opora.kit.errors import NotFound
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, split_page
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1", tags=["inbox"])


async def _adapter(uow: Uow, runtime: RuntimeDep, channel_id: int) -> tuple[Channel, ChannelAdapter]:
    channel = await uow.session.get(Channel, channel_id)
    adapter = channels_service.adapter_for(runtime, channel) if channel and channel.is_active else None
    if channel is None or adapter is None:
        raise NotFound("No active channel here.")
    return channel, adapter


async def _hook(request: Request) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
        query=dict(request.query_params),
        client_host=request.client.host if request.client else None,
    )


def _reply(answer: WebhookReply) -> Response:
    return Response(content=answer.body, status_code=answer.status_code, media_type=answer.content_type)


@router.get("/inbound/{channel_id}", response_model=None)
async def webhook_handshake(channel_id: int, request: Request, uow: Uow, runtime: RuntimeDep) -> Response:
    """Providers that verify a webhook URL with a GET challenge (WhatsApp) get their answer here;
    nothing is stored."""
    _channel, adapter = await _adapter(uow, runtime, channel_id)
    answer = adapter.handshake(await _hook(request)) if isinstance(adapter, Handshakes) else None
    if answer is None:
        raise NotFound("This channel has no webhook handshake.")
    return _reply(answer)


@router.post("/inbound/{channel_id}", status_code=202, response_model=Accepted)
async def webhook(channel_id: int, request: Request, uow: Uow, runtime: RuntimeDep) -> Accepted | Response:
    """A provider calls this; the body is stored before we answer, then processed by a job."""
    channel, adapter = await _adapter(uow, runtime, channel_id)
    hook = await _hook(request)
    body = hook.body
    adapter.verify(hook)
    # A set-up call (a confirmation event) is answered, not stored.
    answer = adapter.handshake(hook) if isinstance(adapter, Handshakes) else None
    if answer is not None:
        return _reply(answer)
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
    ack = getattr(adapter, "webhook_ack", None)
    if isinstance(ack, WebhookReply):
        return _reply(ack)
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
