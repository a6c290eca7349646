"""CSAT surveys: one row per solved ticket, from the scheduled send to the customer's answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class SurveyStatus(StrEnum):
    SCHEDULED = "scheduled"  # the send job waits for the configured delay
    SKIPPED = "skipped"  # the ticket was reopened before the send: the next solve schedules again
    SENT = "sent"
    ANSWERED = "answered"


class CsatSurvey(Base):
    """The ticket id is unique: a ticket gets one survey and keeps one answer, however often it
    is solved again."""

    __tablename__ = "csat_surveys"
    __table_args__ = (
        Index("uq_csat_surveys_ticket", "ticket_id", unique=True),
        # Reports read answers by period, per agent or team.
        Index("ix_csat_surveys_answered", "answered_at"),
        Index("ix_csat_surveys_agent_answered", "agent_id", "answered_at"),
        Index("ix_csat_surveys_follow_up", "follow_up", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # Who and which team solved it: the answer is credited to them even if the ticket moves later.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    channel_type: Mapped[str] = mapped_column(String(30))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    status: Mapped[str] = mapped_column(String(12), default=SurveyStatus.SCHEDULED)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    # Negative answers wait here for a supervisor: "open" until one marks it handled.
    follow_up: Mapped[str | None] = mapped_column(String(10))
    follow_up_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CsatSettings(Base):
    """One row (id 1); absent means the defaults of :mod:`opora.surveys.service`."""

    __tablename__ = "csat_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=60)
    link_valid_days: Mapped[int] = mapped_column(Integer, default=14)
    # {"ru": "...", "en": "..."}; {{survey.link}} and the usual customer/ticket variables.
    survey_texts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # {"thanks": {"ru", "en"}, "sorry": {"ru", "en"}}: replies offered beside a rating.
    reply_texts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
