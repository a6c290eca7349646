"""SLA policies, per-date calendar overrides, per-ticket clocks and the desk's SLA settings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow
from opora.sla.clock import ClockState


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SlaPolicy(Base):
    """Targets for the tickets its conditions match; the lowest ``position`` that matches wins."""

    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_position", "position", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"channel_types": [...], "priorities": [...], "segments": [...], "team_ids": [...]}; [] = any.
    conditions: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # {"first_response": {"minutes": 60, "business": true, "calendar_id": null}, ...}; absent = none.
    targets: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    warning_percent: Mapped[int] = mapped_column(Integer, default=80)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarOverride(Base):
    """The hours of one local date of a calendar, replacing weekly hours and holidays.

    An empty ``hours`` list closes the day (a shop's day off); a non-empty one opens it (a Saturday
    made a working day by a Russian holiday transfer), exactly as ``BusinessCalendar`` reads them.
    """

    __tablename__ = "calendar_overrides"

    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hours: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    note: Mapped[str] = mapped_column(String(200), default="")


_OPEN = text("fulfilled_at IS NULL")


class TicketSla(Base):
    """One clock per ticket and metric; the row is reused when the metric starts again.

    ``elapsed_seconds`` is the time (business or calendar, per ``business``) counted before
    ``running_since``; while paused ``running_since`` and ``due_at`` are null. A clock is active
    until ``fulfilled_at`` is set; a breached clock stays active (overdue) until fulfilled.
    """

    __tablename__ = "ticket_sla"
    __table_args__ = (
        UniqueConstraint("ticket_id", "metric"),
        # The inbox's "at risk" view and nearest-due sort read only clocks still running.
        Index("ix_ticket_sla_open_due", "due_at", "ticket_id", sqlite_where=_OPEN, postgresql_where=_OPEN),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(20))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    target_seconds: Mapped[int] = mapped_column(Integer)
    business: Mapped[bool] = mapped_column(Boolean, default=True)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    warning_percent: Mapped[int] = mapped_column(Integer, default=80)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    elapsed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def state(self) -> ClockState:
        return ClockState(
            target=timedelta(seconds=self.target_seconds),
            started_at=self.started_at,
            running_since=self.running_since,
            elapsed=timedelta(seconds=self.elapsed_seconds),
            due_at=self.due_at,
            warning_percent=self.warning_percent,
            paused_at=self.paused_at,
            warned_at=self.warned_at,
            breached_at=self.breached_at,
            fulfilled_at=self.fulfilled_at,
        )

    def apply(self, state: ClockState) -> None:
        self.target_seconds = int(state.target.total_seconds())
        self.started_at = state.started_at
        self.running_since = state.running_since
        self.elapsed_seconds = state.elapsed.total_seconds()
        self.due_at = state.due_at
        self.warning_percent = state.warning_percent
        self.paused_at = state.paused_at
        self.warned_at = state.warned_at
        self.breached_at = state.breached_at
        self.fulfilled_at = state.fulfilled_at


class SlaSettings(Base):
    """The desk's single row of SLA settings (id 1): default calendar and auto-acknowledgement."""

    __tablename__ = "sla_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    default_calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    autoack_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # {"ru": "...", "en": "..."}; texts use {{sla.expected_reply}} and the usual placeholders.
    autoack_templates: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    out_of_hours_templates: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
