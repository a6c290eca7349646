"""API shapes of routing: team and agent settings, presence, escalation and the queue view."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from opora.agents.models import Presence
from opora.kit.schema import Input, Output
from opora.routing.decide import Policy

MAX_CAPACITY = 1000
MAX_FALLBACK_SECONDS = 7 * 24 * 3600


def _folded(value: object) -> object:
    return value.strip().casefold() if isinstance(value, str) else value


# Folded before the pattern is checked: "Chat" and "chat" are the same channel type.
ChannelKey = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,29}$")]
LanguageCode = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z]{2,8}$")]
Topic = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(str.casefold),
]
Capacity = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]
Weight = Annotated[float, Field(gt=0, le=100)]


class Line(StrEnum):
    FIRST = "first"
    SECOND = "second"


class TeamRoutingUpdate(Input):
    policy: Policy | None = None
    line: Line | None = None
    escalation_team_id: int | None = None  # null clears it
    skill_fallback_seconds: int | None = Field(default=None, ge=0, le=MAX_FALLBACK_SECONDS)
    channel_weights: dict[ChannelKey, Weight] | None = Field(default=None, max_length=50)


class TeamRoutingOut(Output):
    team_id: int
    policy: Policy
    line: Line
    escalation_team_id: int | None
    skill_fallback_seconds: int
    channel_weights: dict[str, float]
    last_assigned_id: int | None


class SkillsIn(Input):
    topics: list[Topic] = Field(default_factory=list, max_length=100)
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    channels: list[ChannelKey] = Field(default_factory=list, max_length=30)
    vip: bool = False


class SkillsOut(Output):
    topics: list[str]
    languages: list[str]
    channels: list[str]
    vip: bool


class AgentRoutingUpdate(Input):
    capacity: dict[ChannelKey, Capacity] | None = Field(default=None, max_length=50)
    default_capacity: Capacity | None = None
    skills: SkillsIn | None = None


class AgentRoutingOut(Output):
    agent_id: int
    presence: Presence
    capacity: dict[str, int]
    default_capacity: int
    skills: SkillsOut
    # Open tickets now (new and open), per channel type.
    load: dict[str, int]


class PresenceIn(Input):
    presence: Presence


class PresenceOut(Output):
    agent_id: int
    presence: Presence
    changed: bool
    assigned_ticket_ids: list[int]


class EscalateIn(Input):
    reason: str = Field(min_length=1, max_length=2000)
    team_id: int | None = None


class QueueItem(Output):
    position: int
    ticket_id: int
    team_id: int
    subject: str
    status: str
    channel_type: str
    priority: str
    topic: str | None
    language: str | None
    vip: bool
    created_at: datetime
    waiting_since: datetime
    waiting_seconds: int


class QueueOut(Output):
    team_id: int | None
    items: list[QueueItem]
