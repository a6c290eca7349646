"""Tickets, their messages, tags and attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class AuthorType(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    BOT = "bot"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored
    QUEUED = "queued"  # outbound, waiting for the send job
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    NOT_SENT = "not_sent"  # internal notes and messages with no channel to send on


class Ticket(Base):
    """A conversation with a customer. ``id`` is also the number people see ("#1234")."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_updated", "updated_at", "id"),
        Index("ix_tickets_status_updated", "status", "updated_at", "id"),
        Index("ix_tickets_team_updated", "team_id", "updated_at", "id"),
        Index("ix_tickets_assignee_updated", "assignee_id", "updated_at", "id"),
        Index("ix_tickets_customer", "customer_id", "id"),
        Index("ix_tickets_channel_updated", "channel_type", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NORMAL)
    channel_type: Mapped[str] = mapped_column(String(30), default="api")
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    topic: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(8))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def number(self) -> int:
        return self.id


class TicketTag(Base):
    """Tags live in their own table so that "tickets with tag X" is an index lookup."""

    __tablename__ = "ticket_tags"
    __table_args__ = (Index("ix_ticket_tags_tag", "tag", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_ticket", "ticket_id", "id"),
        # A customer's recent messages: the per-sender rate limit and the customer's timeline.
        Index("ix_messages_customer_created", "author_customer_id", "created_at"),
        # A provider's message is stored once per channel, however often it is delivered.
        Index(
            "uq_messages_channel_external",
            "channel_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    author_type: Mapped[str] = mapped_column(String(10))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text, default="")
    # Already sanitised when stored; templates may render it as-is inside an isolated frame.
    html: Mapped[str | None] = mapped_column(Text)
    channel_type: Mapped[str] = mapped_column(String(30), default="api")
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(500))
    delivery_status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.RECEIVED)
    delivery_error: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """Metadata of a file kept on disk under the data dir, addressed by its SHA-256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    is_inline: Mapped[bool] = mapped_column(Boolean, default=False)
    content_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
