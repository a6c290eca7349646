"""Append-only ticket events (DESIGN invariant 4): audit log, analytics, rules and live updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket", "ticket_id", "id"),
        Index("ix_ticket_events_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(10))  # agent, customer, bot, system, token
    actor_id: Mapped[int | None] = mapped_column()
    # {"field": {"old": ..., "new": ...}} for changes, or kind-specific facts.
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
