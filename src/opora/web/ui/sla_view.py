"""The SLA column and the "SLA at risk" view, read from the SLA module's clocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opora.kit.time import utcnow
from opora.sla import repository as sla_repository
from opora.sla.clock import SlaBadge
from opora.tickets import repository as tickets_repository
from opora.tickets.models import Ticket
from opora.tickets.repository import TicketFilter

# A target due within this horizon counts as "at risk" in the inbox.
AT_RISK_HORIZON = timedelta(hours=1)


def at_risk_condition() -> Any:
    return sla_repository.at_risk_clause(utcnow(), AT_RISK_HORIZON)


async def badges(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, SlaBadge]:
    return await sla_repository.badges(session, ticket_ids)


async def most_urgent(session: AsyncSession, f: TicketFilter, *, limit: int) -> list[Ticket]:
    """Tickets by nearest running SLA due time, breached first: the order of the "SLA at risk" view."""
    due = sla_repository.next_due_subquery()
    rows = await tickets_repository.list_tickets_by(
        session,
        f,
        joins=[(due, due.c.ticket_id == Ticket.id)],
        order_by=[due.c.next_due_at.asc().nulls_last(), Ticket.id],
        limit=limit,
    )
    return list(rows)
