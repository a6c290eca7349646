"""Read receipts: the replies a visitor's widget has shown become "read"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.channels.webchat import repository
from opora.channels.webchat.history import HISTORY_LIMIT
from opora.channels.webchat.messages import TOPIC
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import Actor
from opora.kit.errors import InvalidInput

# A widget names at most what one history holds in a frame; a longer list it sends in parts.
MAX_READ_IDS = HISTORY_LIMIT


def read_ids(raw: Any) -> list[int]:
    """The ids of a ``read`` frame: a list of at most ``MAX_READ_IDS`` positive integers."""
    if not isinstance(raw, list):
        raise InvalidInput("message_ids must be a list of message ids.", field="message_ids")
    if len(raw) > MAX_READ_IDS:
        raise InvalidInput(
            f"At most {MAX_READ_IDS} message ids in one read frame.", field="message_ids", limit=MAX_READ_IDS
        )
    # bool is an int to Python, but true is no message id.
    if any(not isinstance(i, int) or isinstance(i, bool) or i <= 0 for i in raw):
        raise InvalidInput("message_ids must hold positive integers only.", field="message_ids")
    return sorted(set(raw))


async def mark_read(
    uow: UnitOfWork, channel_id: int, visitor_key: str, message_ids: Sequence[int]
) -> list[int]:
    """The visitor's widget has shown these replies: each unread one becomes "read", with its
    event. Never "every reply up to an id": on PostgreSQL a reply takes its id at insert, not at
    commit, so one with a lower id may still be on its way, and a "read" reply gets no e-mail
    copy (``mail.py``). Ids of other visitors' messages, or of no reply, are ignored."""
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    rows = await repository.mark_read(uow.session, ticket_ids, message_ids, lock=not uow.is_sqlite)
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
