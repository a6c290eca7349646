"""Ticket events that move a customer's lifetime figures recount them in the same transaction.

Order 2: before SLA clocks (10), routing (20) and automation rules (30), so a new ticket of a
customer whom this very ticket (or rating) puts into a segment is already matched by that segment.
"""

from __future__ import annotations

from collections.abc import Sequence

from opora.customers import repository, segments
from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor

# "merged": a ticket merged into another no longer counts for its customer.
FIGURE_KINDS = ("ticket_created", "csat_received", "merged")


@reactor(*FIGURE_KINDS, order=2, name="customers.figures")
async def recount(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    customer_ids = await repository.customer_ids_of_tickets(uow.session, [f.ticket_id for f in facts])
    await segments.refresh(uow, customer_ids)
