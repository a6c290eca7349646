"""Assignment settings per team and per agent, and the log of presence changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class TeamRouting(Base):
    """A team without a row routes manually: auto-assignment is switched on per team."""

    __tablename__ = "routing_team_settings"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(20), default="manual")
    line: Mapped[str] = mapped_column(String(10), default="first")
    escalation_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    skill_fallback_seconds: Mapped[int] = mapped_column(Integer, default=120)
    # {"chat": 3.0, "email": 1.0}: what one open ticket of a channel weighs in least-loaded.
    channel_weights: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # The round-robin pointer: the agent this team assigned last.
    last_assigned_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentRouting(Base):
    __tablename__ = "routing_agent_settings"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    # {"chat": 5, "email": 20}: open tickets at once per channel type; default_capacity elsewhere.
    capacity: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    default_capacity: Mapped[int] = mapped_column(Integer, default=10)
    # {"topics": [...], "languages": [...], "channels": [...], "vip": bool}, values case-folded.
    skills: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresenceChange(Base):
    """Every presence change of an agent: when they were online, for staffing and analytics."""

    __tablename__ = "routing_presence_changes"
    __table_args__ = (Index("ix_routing_presence_changes_agent", "agent_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    old: Mapped[str] = mapped_column(String(10))
    new: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
