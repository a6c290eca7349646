"""/api/v1/channels: admins only, since a channel holds the shop's provider credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from opora.auth.deps import Admin, RuntimeDep, Uow
from opora.channels import registry, service
from opora.channels.schemas import MAX_ID, ChannelCreate, ChannelOut, ChannelTypesOut, ChannelUpdate, TypeName
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

ChannelIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("")
async def list_channels(
    uow: Uow,
    runtime: RuntimeDep,
    _admin: Admin,
    type_name: Annotated[TypeName | None, Query(alias="type")] = None,
    active: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ChannelOut]:
    rows, next_cursor = await service.list_channels(
        uow, limit=limit, cursor=cursor, type_name=type_name, active=active
    )
    return Page(items=[service.channel_out(runtime, c) for c in rows], next_cursor=next_cursor)


@router.get("/types")
async def channel_types(_admin: Admin) -> ChannelTypesOut:
    """The channel types this installation can create."""
    return ChannelTypesOut(types=registry.known_types())


@router.post("", status_code=201)
async def create_channel(data: ChannelCreate, uow: Uow, runtime: RuntimeDep, _admin: Admin) -> ChannelOut:
    return service.channel_out(runtime, await service.create_channel(uow, runtime, data))


@router.get("/{channel_id}")
async def get_channel(channel_id: ChannelIdPath, uow: Uow, runtime: RuntimeDep, _admin: Admin) -> ChannelOut:
    return service.channel_out(runtime, await service.get_channel(uow, channel_id))


@router.patch("/{channel_id}")
async def update_channel(
    channel_id: ChannelIdPath, data: ChannelUpdate, uow: Uow, runtime: RuntimeDep, _admin: Admin
) -> ChannelOut:
    return service.channel_out(runtime, await service.update_channel(uow, runtime, channel_id, data))


@router.post("/{channel_id}/deactivate")
async def deactivate_channel(
    channel_id: ChannelIdPath, uow: Uow, runtime: RuntimeDep, _admin: Admin
) -> ChannelOut:
    """Stop the channel; history stays. PATCH ``{"is_active": true}`` turns it back on."""
    return service.channel_out(runtime, await service.deactivate_channel(uow, channel_id))
