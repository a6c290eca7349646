"""All SQL of the telephony channel: the tickets and messages its calls landed in."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.tickets.models import Message, Ticket


async def tickets_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Ticket]:
    if not ids:
        return {}
    query = select(Ticket).where(Ticket.id.in_(sorted(set(ids)))).order_by(Ticket.id)
    return {row.id: row for row in (await session.scalars(query)).all()}


async def messages_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Message]:
    if not ids:
        return {}
    query = select(Message).where(Message.id.in_(sorted(set(ids))))
    return {row.id: row for row in (await session.scalars(query)).all()}
