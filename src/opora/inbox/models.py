"""Raw inbound payloads: stored before the channel is acknowledged (DESIGN invariant 1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow


class PayloadState(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"
    IGNORED = "ignored"


class InboundPayload(Base):
    __tablename__ = "inbound_payloads"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_inbound_payloads_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100), default="application/json")
    # Mail is bytes in any charset; it is kept base64-encoded so that both databases store it as text.
    encoding: Mapped[str] = mapped_column(String(10), default="utf-8", server_default="utf-8")
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=PayloadState.RECEIVED)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
