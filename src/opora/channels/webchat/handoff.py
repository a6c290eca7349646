"""The human hand-off: "Talk to a person" tags the visitor's conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.channels.webchat import repository
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import Actor
from opora.kit.errors import Unauthenticated
from opora.tickets import repository as tickets_repo
from opora.tickets.lifecycle import Status

HUMAN_TAG = "human_requested"


async def request_human(uow: UnitOfWork, channel_id: int, visitor_key: str) -> int | None:
    """ "Talk to a person": tag the visitor's open conversation; without one yet, remember the
    wish so that the first message's ticket gets the tag. Returns the tagged ticket's id."""
    row = await repository.visitor_by_key(uow.session, visitor_key)
    if row is None:
        raise Unauthenticated("Unknown visitor.")
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    tickets = await repository.tickets(uow.session, ticket_ids)
    open_ids = [t for t, row_ in tickets.items() if row_.status not in (Status.SOLVED, Status.CLOSED)]
    if not open_ids:
        row.wants_human = True
        return None
    ticket_id = max(open_ids)
    await tag_human(uow, [tickets[ticket_id]])
    row.wants_human = False
    return ticket_id


async def tag_human(uow: UnitOfWork, tickets: Sequence[Any]) -> None:
    current = await tickets_repo.tags_of(uow.session, [t.id for t in tickets])
    for ticket in tickets:
        old = current.get(ticket.id, [])
        if HUMAN_TAG in old:
            continue
        new = sorted({*old, HUMAN_TAG})
        await tickets_repo.set_tags(uow.session, ticket.id, new)
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind="tags_changed",
            actor=Actor("customer", ticket.customer_id),
            data={"tags": events.change(old, new)},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
