"""SQL of the enrichment reactor: the inbound messages of a batch and their tickets, in two queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.tickets.models import Message, Ticket, TicketTag


async def inbound_messages(session: AsyncSession, message_ids: Sequence[int]) -> Sequence[Message]:
    if not message_ids:
        return []
    return (
        await session.scalars(select(Message).where(Message.id.in_(message_ids)).order_by(Message.id))
    ).all()


async def tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))
    return {t.id: t for t in rows}


async def tags_of(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, set[str]]:
    result: dict[int, set[str]] = {i: set() for i in ticket_ids}
    if ticket_ids:
        rows = await session.execute(
            select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_(ticket_ids))
        )
        for ticket_id, tag in rows:
            result[ticket_id].add(tag)
    return result


def add_tags(session: AsyncSession, ticket_id: int, tags: Sequence[str]) -> None:
    session.add_all(TicketTag(ticket_id=ticket_id, tag=tag) for tag in tags)
