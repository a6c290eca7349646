"""Bot intents (what the bot can answer), their example phrases, and trained model versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow

OUT_OF_SCOPE = "__oos__"  # the intent key of phrases the bot must never answer


class ModelStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"  # trained, superseded or waiting
    ACTIVE = "active"  # the one the bot uses for its language
    FAILED = "failed"


class BotIntent(Base):
    __tablename__ = "bot_intents"
    __table_args__ = (UniqueConstraint("language", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    language: Mapped[str] = mapped_column(String(2))
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    # Template with placeholders ({{customer.name}}, {{order.number}}), or empty with a KB article.
    reply: Mapped[str] = mapped_column(Text, default="")
    kb_article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotExample(Base):
    __tablename__ = "bot_examples"
    __table_args__ = (Index("ix_bot_examples_intent", "intent_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("bot_intents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotModel(Base):
    """One trained version per language; the weights are an npz blob (no pickle)."""

    __tablename__ = "bot_models"
    __table_args__ = (Index("ix_bot_models_language_status", "language", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # also the version people see
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(10), default=ModelStatus.TRAINING)
    encoder: Mapped[str] = mapped_column(String(50), default="")
    max_wrong_rate: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    # Held-out figures (cross-validated): accuracy, answered share, wrong share, curve points.
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    weights: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BotSettings(Base):
    """One row per language: what the admin accepts from the bot there."""

    __tablename__ = "bot_settings"

    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    max_wrong_rate: Mapped[float] = mapped_column(Float, default=0.02)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotChannel(Base):
    """Whether the bot talks on one channel, and in which languages.

    No row means the default of the channel's type (:data:`opora.bot.channels.DEFAULT_ON`):
    chats and messengers on, email and everything else off until an admin turns it on.
    """

    __tablename__ = "bot_channels"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    languages: Mapped[list[str]] = mapped_column(JsonType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationStatus(StrEnum):
    ACTIVE = "active"  # the bot is in charge; routing leaves the ticket alone
    HANDED_OFF = "handed_off"
    RESOLVED = "resolved"


class BotConversation(Base):
    """The bot's part of one ticket: what it waits for and how it ended.

    A ticket is in bot mode while its row is ``active``; routing and the auto-acknowledgement
    skip such tickets until the hand-off.
    """

    __tablename__ = "bot_conversations"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), default=ConversationStatus.ACTIVE)
    step: Mapped[str] = mapped_column(String(14), default="question")  # opora.bot.flow.Step
    rephrased: Mapped[bool] = mapped_column(Boolean, default=False)
    intent: Mapped[str | None] = mapped_column(String(60))
    confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[int | None] = mapped_column(Integer)
    # The last customer message handled: a job run twice answers once.
    last_message_id: Mapped[int | None] = mapped_column(BigId)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
