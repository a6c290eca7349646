"""Routing reacts to ticket changes in their own transaction: a ticket that enters a team queue,
or an agent who frees capacity, gets the team queue served before the change commits."""

from __future__ import annotations

from collections.abc import Sequence

from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor
from opora.routing import service

# "bot_handoff": a ticket the bot was answering joins its team queue.
KINDS = ("ticket_created", "team_changed", "status_changed", "assigned", "bot_handoff")


@reactor(*KINDS, order=20, name="routing.assign")
async def assign_waiting(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await service.react(uow, facts)
