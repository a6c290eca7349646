"""One row per notification an agent gets; read state is per row."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow

SNIPPET_LENGTH = 200


class NotificationKind(StrEnum):
    ASSIGNED = "assigned"
    MENTION = "mention"
    RULE = "rule"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # An agent's list, newest first, and the unread badge (a range of the same index).
        Index("ix_notifications_agent", "agent_id", "id"),
        Index("ix_notifications_agent_unread", "agent_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # The agent who caused it; NULL for the system and automation.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    snippet: Mapped[str] = mapped_column(String(SNIPPET_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
