"""Chat widget visitors: one row per browser (its token lives in the visitor's localStorage)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow


class WebchatVisitor(Base):
    __tablename__ = "webchat_visitors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    # Public and random: the value of the visitor's customer identity (kind "webchat") and the
    # prefix of the external id of every message the visitor writes.
    key: Mapped[str] = mapped_column(String(40), unique=True)
    # SHA-256 of the bearer token the browser keeps; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Given in the offline form and not verified: used to answer by e-mail, never to link records.
    email: Mapped[str | None] = mapped_column(String(254))
    # Set once the shop vouched for the visitor with a valid signature (the e-mail or shop id).
    signed_as: Mapped[str | None] = mapped_column(String(320))
    # The external id of the visitor's latest message: the next one names it as its reply
    # reference, so a visitor's conversation threads per browser, not per customer record.
    last_external_id: Mapped[str | None] = mapped_column(String(500))
    wants_human: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
