"""Recording ticket events: a row in the caller's transaction, a live message after commit."""

from __future__ import annotations

from typing import Any

from opora.db import UnitOfWork
from opora.events.models import TicketEvent
from opora.events.reactions import Fact, note
from opora.kit.time import utcnow

# Every ticket event goes to one topic; subscribers filter by what the agent may see.
TICKET_TOPIC = "tickets"


class Actor:
    """Who caused a change: an agent, a customer, the bot, the system or an API token."""

    __slots__ = ("id", "type")

    def __init__(self, type_: str, id_: int | None = None) -> None:
        self.type = type_
        self.id = id_

    def __repr__(self) -> str:
        return f"Actor({self.type!r}, {self.id!r})"


SYSTEM = Actor("system")


def change(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new}


async def record(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    kind: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
) -> TicketEvent:
    """Append an event row; publish it to the bus once the transaction commits.

    ``team_id`` and ``assignee_id`` describe the ticket after the change and travel with the live
    message, so that the stream can show it only to agents allowed to see that ticket.
    """
    row = TicketEvent(
        ticket_id=ticket_id,
        kind=kind,
        actor_type=actor.type,
        actor_id=actor.id,
        data=data or {},
        created_at=utcnow(),
    )
    # No flush here: the row goes out with the next flush or the commit, batched with its
    # neighbours, and the live message is built after the commit when the id exists.
    uow.session.add(row)
    note(uow, [Fact(ticket_id, kind, actor.type, actor.id, row.data, row.created_at)])
    uow.publish(
        TICKET_TOPIC,
        lambda: {
            "id": row.id,
            "ticket_id": ticket_id,
            "kind": kind,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "data": row.data,
            "created_at": row.created_at.isoformat(),
            "team_id": team_id,
            "assignee_id": assignee_id,
        },
    )
    return row
