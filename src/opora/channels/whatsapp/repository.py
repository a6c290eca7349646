"""SQL of the WhatsApp channel: media attached after the fact, and the window look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from opora.tickets.models import Attachment, Message, Ticket


async def insert_attachments(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Attachment), list(rows))


async def attachment_count(session: AsyncSession, message_id: int) -> int:
    query = select(func.count()).select_from(Attachment).where(Attachment.message_id == message_id)
    return int(await session.scalar(query) or 0)


async def queued_replies(
    session: AsyncSession, message_ids: Sequence[int], channel_type: str
) -> list[tuple[Message, Ticket]]:
    """Outbound messages of these ids on the channel type, still waiting to be sent."""
    if not message_ids:
        return []
    query = (
        select(Message, Ticket)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            Message.id.in_(sorted(set(message_ids))),
            Message.channel_type == channel_type,
            Message.direction == "out",
            Message.delivery_status == "queued",
        )
        .order_by(Message.id)
    )
    return [(m, t) for m, t in (await session.execute(query)).all()]


async def last_customer_messages(
    session: AsyncSession, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], datetime]:
    """(channel id, customer id) → when that customer last wrote on that channel."""
    if not pairs:
        return {}
    query = (
        select(Message.channel_id, Message.author_customer_id, func.max(Message.created_at))
        .where(
            tuple_(Message.channel_id, Message.author_customer_id).in_(sorted(set(pairs))),
            Message.direction == "in",
        )
        .group_by(Message.channel_id, Message.author_customer_id)
    )
    return {
        (channel_id, customer_id): at
        for channel_id, customer_id, at in (await session.execute(query)).all()
        if channel_id is not None and customer_id is not None and at is not None
    }
