"""API shapes for agents and teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

from opora.agents.models import Presence, Role
from opora.kit.schema import Email, Input, Language, Name, Output


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_timezone)]
Password = Annotated[str, Field(min_length=8, max_length=200)]


class AgentCreate(Input):
    email: Email
    name: Name
    password: Password | None = None
    role: Role = Role.AGENT
    language: Language = "ru"
    timezone: TimeZone = "Europe/Moscow"
    team_ids: list[int] = Field(default_factory=list, max_length=100)


class AgentUpdate(Input):
    name: Name | None = None
    password: Password | None = None
    role: Role | None = None
    language: Language | None = None
    timezone: TimeZone | None = None
    presence: Presence | None = None
    is_active: bool | None = None
    team_ids: list[int] | None = Field(default=None, max_length=100)


class AgentOut(Output):
    id: int
    email: str
    name: str
    role: Role
    language: str
    timezone: str
    presence: Presence
    is_active: bool
    team_ids: list[int]
    created_at: datetime


class TeamCreate(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    calendar_id: int | None = None
    member_ids: list[int] = Field(default_factory=list, max_length=1000)


class TeamUpdate(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    calendar_id: int | None = None
    member_ids: list[int] | None = Field(default=None, max_length=1000)


class TeamOut(Output):
    id: int
    name: str
    description: str
    calendar_id: int | None
    member_ids: list[int]
    created_at: datetime
