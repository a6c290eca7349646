"""Accepted web-form submissions, kept for the per-IP and per-email rate limits.

The submission itself lives in the inbox as a raw payload; this row is the small index the limit
counts over. A refused submission writes nothing, so a bot that is refused cannot grow the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, UTCDateTime
from opora.kit.time import utcnow


class WebformSubmission(Base):
    __tablename__ = "webform_submissions"
    __table_args__ = (
        Index("ix_webform_submissions_ip", "channel_id", "ip", "created_at"),
        Index("ix_webform_submissions_email", "channel_id", "email", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
