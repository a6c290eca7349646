"""POST /api/v1/devices/{channel_id}/events: a device (or the shop's IoT backend) reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError

from opora.auth.deps import RuntimeDep, Uow
from opora.channels import service as channels_service
from opora.channels.base import WebhookRequest
from opora.channels.devices import service
from opora.channels.devices.adapter import TYPE, check_auth
from opora.channels.devices.schemas import DeviceEventAccepted, DeviceEventIn
from opora.channels.models import Channel
from opora.kit.errors import InvalidInput, NotFound, PayloadTooLarge

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

MAX_BODY = 64 * 1024


@router.post("/{channel_id}/events", status_code=202)
async def device_event(
    channel_id: Annotated[int, Path(ge=1, le=2**53)], request: Request, uow: Uow, runtime: RuntimeDep
) -> DeviceEventAccepted:
    """Stored before the answer, processed by a job; the same ``event_id`` again is a duplicate."""
    channel = await uow.session.get(Channel, channel_id)
    if channel is None or not channel.is_active or channel.type != TYPE:
        raise NotFound("No active device channel here.")
    body = await request.body()
    check_auth(
        channels_service.channel_config(runtime, channel),
        WebhookRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        ),
    )
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"A device event is at most {MAX_BODY} bytes.")
    try:
        event = DeviceEventIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", field=where or None) from None
    created = await service.receive(uow, channel, event)
    return DeviceEventAccepted(accepted=True, duplicate=not created)
