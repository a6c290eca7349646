"""All SQL about channels."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels.models import Channel


async def get_channel(session: AsyncSession, channel_id: int) -> Channel | None:
    return await session.get(Channel, channel_id)


async def list_channels(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None = None,
    type_name: str | None = None,
    active: bool | None = None,
) -> Sequence[Channel]:
    query = select(Channel).order_by(Channel.id).limit(limit)
    if after_id is not None:
        query = query.where(Channel.id > after_id)
    if type_name is not None:
        query = query.where(Channel.type == type_name)
    if active is not None:
        query = query.where(Channel.is_active.is_(active))
    return (await session.scalars(query)).all()


async def insert_channel(session: AsyncSession, channel: Channel) -> Channel:
    session.add(channel)
    await session.flush()
    return channel
