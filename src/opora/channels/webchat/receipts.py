"""Read receipts: the replies a visitor's widget has shown become "read"."""

from __future__ import annotations

from opora.channels.webchat import repository
from opora.channels.webchat.messages import TOPIC
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import Actor


async def mark_read(uow: UnitOfWork, channel_id: int, visitor_key: str, up_to: int) -> list[int]:
    """The visitor saw every reply up to ``up_to``: those become "read", each with its event."""
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    rows = await repository.mark_read(uow.session, ticket_ids, up_to, lock=not uow.is_sqlite)
    if not rows:
        return []
    tickets = await repository.tickets(uow.session, sorted({t for _, t in rows}))
    for message_id, ticket_id in rows:
        ticket = tickets[ticket_id]
        await events.record(
            uow,
            ticket_id=ticket_id,
            kind="message_delivery",
            actor=Actor("customer", ticket.customer_id),
            data={"message_id": message_id, "status": "read", "error": None},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
    read = [m for m, _ in rows]
    uow.publish(TOPIC, {"kind": "read", "visitor": visitor_key, "message_ids": read})
    return read
