"""The facts table reports read: the counted occurrences of each ticket, kept with its events.

A row is one thing a report counts (a ticket created, a first reply, a later reply that answered
the customer, a solve, an SLA clock that ended, a bot outcome), with the instant that places it in
a period, its value in seconds and its 0/1 condition, and the ticket's current slice attributes.
The rows of a ticket are recomputed from its events in every transaction that records one
(``analytics/reactions.py``), so they never drift from the event log they summarise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.tickets.models import Ticket


class TicketFact(Base):
    __tablename__ = "ticket_facts"
    __table_args__ = (
        # Every report reads one kind over a span of instants.
        Index("ix_ticket_facts_kind_at", "kind", "at"),
        Index("ix_ticket_facts_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # created, first_response, next_response, solve, sla_first_response, sla_next_response,
    # sla_resolution, bot (see analytics/facts.py)
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # For a solve: the earliest later solve. A report counts a ticket's last solve in its span.
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Seconds: business time where an SLA clock measured it, else calendar time.
    value: Mapped[float | None] = mapped_column(Float)
    # The kind's 0/1 condition: escalated (created), reopened at any time (solve), met (sla_*),
    # resolved by the bot (bot).
    ok: Mapped[int] = mapped_column(SmallInteger, default=0)
    # A solve after at least one public reply: 1 if it was the only reply and no reopen came before.
    first_contact: Mapped[int | None] = mapped_column(SmallInteger)
    # The ticket's attributes now. The customer's segment is read live through ``customer_id``
    # (a customer's segment changes without a ticket event; a customer merge records one).
    customer_id: Mapped[int] = mapped_column(BigId)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    channel_type: Mapped[str] = mapped_column(String(30))
    topic: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(10))


# The live dashboard counts the open tickets per team and per agent: a partial index holding just
# those columns lets PostgreSQL answer from the index alone instead of visiting every open
# ticket's row. Declared here, beside the reads that need it, on the tickets table.
OPEN_SQL = text("status IN ('new', 'open', 'pending', 'on_hold')")
Index(
    "ix_tickets_open_queue",
    Ticket.team_id,
    Ticket.assignee_id,
    Ticket.status,
    Ticket.merged_into_id,
    sqlite_where=OPEN_SQL,
    postgresql_where=OPEN_SQL,
)
