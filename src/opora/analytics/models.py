"""The facts table reports read: the counted occurrences of each ticket, kept with its events.

A row is one thing a report counts (a ticket created, a first reply, a later reply that answered
the customer, a solve, an SLA clock that ended, a bot outcome), with the instant that places it in
a period, its value in seconds and its 0/1 condition, and the ticket's current slice attributes.
The rows of a ticket are recomputed from its events in every transaction that records one
(``analytics/reactions.py``), so they never drift from the event log they summarise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from opora.analytics.buckets import bucket_of
from opora.customers.models import Customer
from opora.db import Base, BigId, UTCDateTime
from opora.tickets.models import Ticket

# What a duration report's facts query names besides kind, bucket and at.
BUCKET_INCLUDE = [
    "value",
    "until",
    "team_id",
    "assignee_id",
    "channel_type",
    "topic",
    "priority",
    "customer_id",
]


def _value_bucket(context: Any) -> int | None:
    """An inserted fact's bucket when the insert names none: from the value it goes with."""
    return bucket_of(context.get_current_parameters().get("value"))


class TicketFact(Base):
    __tablename__ = "ticket_facts"
    __table_args__ = (
        # Every report reads one kind over a span of instants; with every column a report's
        # facts query names, PostgreSQL reads a year of them from this index alone (ADR 35);
        # the bucket too, which a long duration report counts its facts by (ADR 39).
        Index(
            "ix_ticket_facts_kind_at",
            "kind",
            "at",
            postgresql_include=[
                "value",
                "bucket",
                "ok",
                "until",
                "first_contact",
                "team_id",
                "assignee_id",
                "channel_type",
                "topic",
                "priority",
                "customer_id",
            ],
        ),
        Index("ix_ticket_facts_ticket", "ticket_id"),
        # A long duration report's second pass reads only the facts in the few buckets holding
        # its wanted ranks (ADR 39), from this index alone: the columns a duration report's
        # facts query names. Only facts with a value have a bucket.
        Index(
            "ix_ticket_facts_kind_bucket",
            "kind",
            "bucket",
            "at",
            postgresql_include=BUCKET_INCLUDE,
            postgresql_where=text("bucket IS NOT NULL"),
            sqlite_where=text("bucket IS NOT NULL"),
        ),
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
    # The value's place on analytics/buckets.py's ladder (width_bucket of it), null with it:
    # what long duration reports count and then select their facts by (ADR 39).
    bucket: Mapped[int | None] = mapped_column(SmallInteger, default=_value_bucket)
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


class TicketFactHour(Base):
    """The facts of one UTC hour counted per slice: what count and rate reports read.

    A row sums the facts of one kind placed in one hour for one value of one slice dimension
    (``dim`` = total, team, agent, channel, topic or priority; ``key`` its value as text, '' for
    none). The segment is not here: it is the customer's now and changes without a ticket event.
    Solves are summed only while final (no later solve), the only ones a report ending after
    them counts. ``analytics/rollups.py`` adds each ticket's change of facts in the transaction
    that changes them, so the sums are never behind the facts.
    """

    __tablename__ = "ticket_fact_hours"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    # Solves after a reply (first_contact set) and those of them that were first-contact ones.
    contact_n: Mapped[int] = mapped_column(BigInteger, default=0)
    contact_hits: Mapped[int] = mapped_column(BigInteger, default=0)


# Long-span reports of open tickets and superseded solves: see migration 0022.
# A solve that a later solve superseded counts in a span ending before that later solve; these
# few rows are found by when they were superseded.
Index(
    "ix_ticket_facts_superseded",
    TicketFact.kind,
    TicketFact.until,
    postgresql_where=text("until IS NOT NULL"),
    sqlite_where=text("until IS NOT NULL"),
)

# The backlog report reads every open ticket's age and slice: from this index alone on
# PostgreSQL, instead of one visit to the tickets heap per open ticket. Every column the query
# names is here (the customer for the segment join, which the planner may drop; the status of
# the predicate), or PostgreSQL does not consider an index-only scan.
Index(
    "ix_tickets_open_backlog",
    Ticket.created_at,
    postgresql_include=[
        "team_id",
        "assignee_id",
        "channel_type",
        "topic",
        "priority",
        "merged_into_id",
        "customer_id",
        "status",
    ],
    sqlite_where=OPEN_SQL,
    postgresql_where=OPEN_SQL,
)

# The segment slice joins facts to the few customers that have a segment (the rest have none):
# a hash of those instead of a hash of every customer.
Index(
    "ix_customers_segmented",
    Customer.id,
    postgresql_include=["segment"],
    sqlite_where=text("segment IS NOT NULL"),
    postgresql_where=text("segment IS NOT NULL"),
)
