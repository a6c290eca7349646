"""Read models of the admin screens that no feature repository offers: counts and name look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Team
from opora.channels.models import Channel
from opora.inbox.models import InboundPayload, PayloadState


@dataclass(frozen=True)
class Counts:
    agents: int
    teams: int
    channels: int
    quarantined: int


async def counts(session: AsyncSession) -> Counts:
    active_agents = select(func.count()).select_from(Agent).where(Agent.is_active.is_(True))
    teams = select(func.count()).select_from(Team)
    active_channels = select(func.count()).select_from(Channel).where(Channel.is_active.is_(True))
    quarantined = (
        select(func.count())
        .select_from(InboundPayload)
        .where(InboundPayload.state == PayloadState.QUARANTINED)
    )
    return Counts(
        agents=int(await session.scalar(active_agents) or 0),
        teams=int(await session.scalar(teams) or 0),
        channels=int(await session.scalar(active_channels) or 0),
        quarantined=int(await session.scalar(quarantined) or 0),
    )


async def channel_names(session: AsyncSession, channel_ids: Sequence[int]) -> dict[int, str]:
    if not channel_ids:
        return {}
    rows = await session.execute(select(Channel.id, Channel.name).where(Channel.id.in_(set(channel_ids))))
    return {channel_id: name for channel_id, name in rows}


async def all_channels(session: AsyncSession) -> Sequence[Channel]:
    """A desk has a handful of channels; the list shows them all, active first."""
    query = select(Channel).order_by(Channel.is_active.desc(), Channel.type, Channel.name, Channel.id)
    return (await session.scalars(query)).all()
