"""Device events as received, and the open alert ticket of each device + code."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class EventState(StrEnum):
    RECEIVED = "received"
    IGNORED = "ignored"  # below the channel's rules: kept, no ticket
    OPENED = "opened"  # opened a proactive ticket
    ADDED = "added"  # joined the open ticket of the same device and code
    QUARANTINED = "quarantined"  # the customer reference is unusable


class DeviceEvent(Base):
    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_id"),
        Index("ix_device_events_device", "channel_id", "device_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    device_id: Mapped[str] = mapped_column(String(200))
    customer_kind: Mapped[str] = mapped_column(String(20))
    customer_value: Mapped[str] = mapped_column(String(320))
    severity: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=EventState.RECEIVED)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


class DeviceAlert(Base):
    """Which ticket a device's code is being handled in; replaced when that ticket is finished."""

    __tablename__ = "device_alerts"
    __table_args__ = (UniqueConstraint("channel_id", "device_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(100))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
