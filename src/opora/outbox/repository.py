"""SQL for outbound delivery: the message to send and what it answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.customers.models import CustomerIdentity
from opora.tickets.models import Attachment, Message


async def last_inbound(session: AsyncSession, ticket_id: int, channel_id: int) -> Message | None:
    query = (
        select(Message)
        .where(Message.ticket_id == ticket_id, Message.channel_id == channel_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def thread_ids(session: AsyncSession, ticket_id: int, channel_id: int, limit: int) -> list[str]:
    """Provider ids of the conversation so far, oldest first (mail's References header)."""
    query = (
        select(Message.external_id)
        .where(
            Message.ticket_id == ticket_id, Message.channel_id == channel_id, Message.external_id.is_not(None)
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [value for value in reversed((await session.scalars(query)).all()) if value]


async def identity_of(session: AsyncSession, customer_id: int, kind: str) -> str | None:
    query = (
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == kind)
        .order_by(CustomerIdentity.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def attachments(session: AsyncSession, message_id: int) -> Sequence[Attachment]:
    return (await session.scalars(select(Attachment).where(Attachment.message_id == message_id))).all()
