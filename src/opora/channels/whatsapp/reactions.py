"""The 24-hour window, checked when a reply is written, so the agent learns at once that WhatsApp
would refuse it instead of after a round trip to Meta. The send job skips a message failed here;
a reply that waited in the queue past the window is still caught by Meta's error 131047."""

from __future__ import annotations

from collections.abc import Sequence

from opora.channels.whatsapp import repository
from opora.channels.whatsapp.window import WINDOW_CLOSED, window_open
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.reactions import Fact, reactor
from opora.events.service import SYSTEM
from opora.kit.time import utcnow
from opora.tickets.models import DeliveryStatus

CHANNEL_TYPE = "whatsapp"


@reactor("message_added", order=5, name="whatsapp.window")
async def refuse_replies_outside_the_window(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    ids = [
        int(f.data["message_id"])
        for f in facts
        if f.data.get("direction") == "out" and not f.data.get("internal") and f.data.get("message_id")
    ]
    replies = await repository.queued_replies(uow.session, ids, CHANNEL_TYPE)
    if not replies:
        return
    last = await repository.last_customer_messages(
        uow.session, [(m.channel_id, t.customer_id) for m, t in replies if m.channel_id is not None]
    )
    now = utcnow()
    for message, ticket in replies:
        if window_open(last.get((message.channel_id or 0, ticket.customer_id)), now):
            continue
        message.delivery_status = DeliveryStatus.FAILED
        message.delivery_error = WINDOW_CLOSED
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind="message_delivery",
            actor=SYSTEM,
            data={"message_id": message.id, "status": message.delivery_status, "error": WINDOW_CLOSED},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
