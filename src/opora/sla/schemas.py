"""API shapes for SLA policies, calendars, settings and a ticket's clocks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from opora.agents.schemas import TimeZone
from opora.kit.schema import Input, Name, Output
from opora.tickets.models import Priority

MAX_TARGET_MINUTES = 366 * 24 * 60
ChannelType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
Segment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Interval = tuple[str, str]
Template = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class TargetIn(Input):
    minutes: int = Field(ge=1, le=MAX_TARGET_MINUTES)
    # Business time counts only the calendar's open hours; calendar time counts every minute.
    business: bool = True
    # None: the calendar of the ticket's team, else the desk's default calendar.
    calendar_id: int | None = None


class Targets(Input):
    first_response: TargetIn | None = None
    next_response: TargetIn | None = None
    resolution: TargetIn | None = None


class Conditions(Input):
    """Allowed values per field; an empty list allows any value."""

    channel_types: list[ChannelType] = Field(default_factory=list, max_length=50)
    priorities: list[Priority] = Field(default_factory=list, max_length=4)
    segments: list[Segment] = Field(default_factory=list, max_length=50)
    team_ids: list[int] = Field(default_factory=list, max_length=200)


def _has_target(targets: Targets | None) -> None:
    if targets is not None and not any((targets.first_response, targets.next_response, targets.resolution)):
        raise ValueError("a policy needs at least one target")


class PolicyCreate(Input):
    name: Name
    position: int = Field(default=0, ge=0, le=1_000_000)
    is_active: bool = True
    conditions: Conditions = Field(default_factory=Conditions)
    targets: Targets
    warning_percent: int = Field(default=80, ge=1, le=100)

    @model_validator(mode="after")
    def _targets(self) -> PolicyCreate:
        _has_target(self.targets)
        return self


class PolicyUpdate(Input):
    name: Name | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    is_active: bool | None = None
    conditions: Conditions | None = None
    targets: Targets | None = None
    warning_percent: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _targets(self) -> PolicyUpdate:
        _has_target(self.targets)
        return self


class PolicyOut(Output):
    id: int
    name: str
    position: int
    is_active: bool
    conditions: Conditions
    targets: Targets
    warning_percent: int
    created_at: datetime
    updated_at: datetime


class OverrideIn(Input):
    """The hours of one local date: [] closes it (a shop's day off), intervals open it (a
    transferred working Saturday)."""

    date: date
    hours: list[Interval] = Field(default_factory=list, max_length=10)
    note: str = Field(default="", max_length=200)


class OverrideOut(Output):
    date: date
    hours: list[Interval]
    note: str


class CalendarCreate(Input):
    name: Name
    timezone: TimeZone = "Europe/Moscow"
    # {"mon": [["09:00", "18:00"]], ...}; a missing weekday is closed.
    weekly_hours: dict[str, list[Interval]] = Field(default_factory=dict, max_length=7)
    holiday_country: str | None = Field(default="RU", min_length=2, max_length=8)
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=2000)


class CalendarUpdate(Input):
    name: Name | None = None
    timezone: TimeZone | None = None
    weekly_hours: dict[str, list[Interval]] | None = Field(default=None, max_length=7)
    holiday_country: str | None = Field(default=None, min_length=2, max_length=8)
    # Given: replaces the whole list of overrides.
    overrides: list[OverrideIn] | None = Field(default=None, max_length=2000)


class CalendarOut(Output):
    id: int
    name: str
    timezone: str
    weekly_hours: dict[str, list[Interval]]
    holiday_country: str | None
    overrides: list[OverrideOut]
    created_at: datetime


class LocalizedTexts(Input):
    ru: Template | None = None
    en: Template | None = None


class SettingsUpdate(Input):
    default_calendar_id: int | None = None
    autoack_enabled: bool | None = None
    autoack_templates: LocalizedTexts | None = None
    out_of_hours_templates: LocalizedTexts | None = None


class TextsOut(Output):
    ru: str
    en: str


class SettingsOut(Output):
    default_calendar_id: int | None
    autoack_enabled: bool
    # What is sent: the admin's text, or the built-in default for a language left empty.
    autoack_templates: TextsOut
    out_of_hours_templates: TextsOut


class ClockOut(Output):
    metric: str
    policy_id: int | None
    target_minutes: int
    business: bool
    calendar_id: int | None
    started_at: datetime
    due_at: datetime | None
    paused: bool
    elapsed_seconds: int
    remaining_seconds: int
    warned_at: datetime | None
    breached_at: datetime | None
    breached: bool
    fulfilled_at: datetime | None
