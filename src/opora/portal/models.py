"""One row per magic link a customer asked for; the same row becomes the portal session the link
opens, so "single use" and "who is signed in" are one record (ADR 0024)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow


class PortalLogin(Base):
    __tablename__ = "portal_logins"
    # The rate limit counts recent requests per address.
    __table_args__ = (Index("ix_portal_logins_email_created", "email", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2))
    link_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the link is used: a second use finds it set and is refused.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the session cookie; the cookie itself is never stored.
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    session_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
