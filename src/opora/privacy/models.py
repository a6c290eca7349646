"""Personal-data bookkeeping: who looked at whom, what was erased, how long data is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow


class AccessLogEntry(Base):
    __tablename__ = "customer_access_log"
    __table_args__ = (Index("ix_customer_access_log_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Plain ids, no foreign keys: the log must outlive agents and survive erasure unchanged.
    agent_id: Mapped[int | None] = mapped_column()
    customer_id: Mapped[int] = mapped_column()
    what: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Erasure(Base):
    """The fact that a customer's personal data was erased, with the figures that remain."""

    __tablename__ = "customer_erasures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column()
    reason: Mapped[str] = mapped_column(String(20))  # "request" (admin) or "retention" (job)
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    files_deleted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetentionPolicy(Base):
    """One row (id 1): how long closed tickets keep their personal data."""

    __tablename__ = "privacy_retention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None: keep forever (the default; switching retention on is the admin's decision).
    closed_ticket_months: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketRedaction(Base):
    """A ticket whose texts and files were redacted, so the retention job skips it next time."""

    __tablename__ = "ticket_redactions"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
