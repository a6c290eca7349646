"""API shapes of incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from opora.kit.schema import Input, Output

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
WorkingStatus = Literal["investigating", "identified", "monitoring"]


class IncidentIn(Input):
    title: Title
    status: WorkingStatus = "investigating"
    status_text: str = Field(default="", max_length=20_000)
    rule_topic: Topic | None = None
    rule_from: datetime | None = None
    rule_until: datetime | None = None


class IncidentUpdateIn(Input):
    """Changes of the incident itself; resolving has its own call."""

    title: Title | None = None
    status: WorkingStatus | None = None
    status_text: str | None = Field(default=None, max_length=20_000)
    rule_topic: Topic | None = None
    rule_from: datetime | None = None
    rule_until: datetime | None = None


class IncidentOut(Output):
    id: int
    title: str
    status: str
    status_text: str
    rule_topic: str | None
    rule_from: datetime | None
    rule_until: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    linked_tickets: int = 0


class LinkIn(Input):
    ticket_ids: list[int] = Field(min_length=1, max_length=500)


class LinkedOut(Output):
    ticket_id: int
    subject: str
    status: str
    channel_type: str
    merged: bool
    linked_by: str
    linked_at: datetime


class PostIn(Input):
    text: Text


class UpdateOut(Output):
    id: int
    incident_id: int
    text: str
    is_final: bool
    author_id: int | None
    tickets_queued: int
    created_at: datetime
