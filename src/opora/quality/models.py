"""Quality review: scorecards with weighted criteria, and reviews of solved conversations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class ReviewStatus(StrEnum):
    PENDING = "pending"  # sampled, waiting for a reviewer
    DONE = "done"


class Scorecard(Base):
    __tablename__ = "quality_scorecards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"key": "greeting", "label": "Greeting", "weight": 10}, ...]; keys unique, weights > 0.
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A review keeps its own copy of the criteria, so editing a scorecard never rewrites the
    scores already given under it."""

    __tablename__ = "quality_reviews"
    __table_args__ = (
        # A conversation is sampled at most once per scorecard.
        Index("uq_quality_reviews_ticket_scorecard", "ticket_id", "scorecard_id", unique=True),
        Index("ix_quality_reviews_agent_completed", "agent_id", "completed_at"),
        Index("ix_quality_reviews_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("quality_scorecards.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.PENDING)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    scores: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    comment: Mapped[str] = mapped_column(Text, default="")
    # 0..100, the weighted mean of the criterion scores.
    total: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
