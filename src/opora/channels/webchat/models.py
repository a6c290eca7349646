"""Chat widget visitors: one row per browser (its token lives in the visitor's localStorage)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
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


class WebchatEmailCopy(Base):
    """An agent's reply on a chat ticket, also sent by e-mail to a visitor who was not there.

    The row is the index that threads the visitor's e-mail answer back to the chat ticket: the
    answer's In-Reply-To names ``mail_id`` on the e-mail channel, where no message row has it
    (the reply's own row belongs to the chat channel). The state shown to agents is kept beside
    it, on the reply's ``metadata.email_copy``, written in the same transactions.
    """

    __tablename__ = "webchat_email_copies"
    __table_args__ = (Index("ix_webchat_email_copies_mail", "email_channel_id", "mail_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    email_channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(254))
    # queued, sent, failed, or skipped (read in the widget before the mail went out).
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    # The Message-ID of the mail, without angle brackets, once sent.
    mail_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
