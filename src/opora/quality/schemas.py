"""API shapes of quality review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from opora.kit.schema import Input, Name, Output


class Criterion(Input):
    key: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=200)
    weight: int


class ScorecardIn(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    is_active: bool = True
    criteria: list[Criterion] = Field(max_length=50)


class ScorecardUpdate(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None
    criteria: list[Criterion] | None = Field(default=None, max_length=50)


class ScorecardOut(Output):
    id: int
    name: str
    description: str
    is_active: bool
    criteria: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class SampleIn(Input):
    scorecard_id: int
    count: int = Field(default=5, ge=1, le=100)
    agent_id: int | None = None
    team_id: int | None = None
    channel_type: str | None = Field(default=None, max_length=30)
    topic: str | None = Field(default=None, max_length=100)
    solved_from: datetime | None = None
    solved_until: datetime | None = None
    max_rating: int | None = Field(default=None, ge=1, le=5)


class ReviewCreate(Input):
    scorecard_id: int
    ticket_id: int


class ReviewComplete(Input):
    scores: dict[str, int | None]
    comment: str = Field(default="", max_length=10_000)


class ReviewOut(Output):
    id: int
    scorecard_id: int
    ticket_id: int
    agent_id: int
    reviewer_id: int | None
    status: str
    criteria: list[dict[str, Any]]
    scores: dict[str, Any]
    comment: str
    total: float | None
    created_at: datetime
    completed_at: datetime | None


class TrendPoint(Output):
    period_start: datetime
    reviews: int
    average: float


class AgentScores(Output):
    agent_id: int
    period: str
    points: list[TrendPoint]
