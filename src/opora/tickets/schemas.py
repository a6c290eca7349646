"""API shapes for tickets, messages and ticket events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from opora.customers.models import IdentityKind
from opora.kit.schema import Input, Language, Output
from opora.tickets.lifecycle import Status
from opora.tickets.models import Priority

MAX_TEXT = 100_000
MAX_TAGS = 50
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _check_custom_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 100:
        raise ValueError("at most 100 custom fields")
    for key, item in value.items():
        if not key or len(key) > 64:
            raise ValueError("custom field names are 1 to 64 characters")
        if not (item is None or isinstance(item, str | int | float | bool)):
            raise ValueError(f"custom field {key!r} must be a string, number, boolean or null")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError(f"custom field {key!r} is longer than 2000 characters")
    return value


class IdentityIn(Input):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class CustomerRef(Input):
    """Either an existing customer id, or an identity to find or create the customer by."""

    id: int | None = None
    identity: IdentityIn | None = None
    name: str | None = Field(default=None, max_length=200)


class MessageIn(Input):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    html: str | None = Field(default=None, max_length=MAX_TEXT * 5)
    internal: bool = False
    author: Literal["agent", "customer"] = "agent"
    # "Send and set status": a public reply can move the ticket in the same call.
    status: Status | None = None


class TicketCreate(Input):
    subject: Subject = ""
    customer: CustomerRef
    message: MessageIn
    priority: Priority = Priority.NORMAL
    team_id: int | None = None
    assignee_id: int | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    topic: Topic | None = None
    language: Language | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)

    _fields = field_validator("custom_fields")(_check_custom_fields)


class TicketUpdate(Input):
    subject: Subject | None = None
    status: Status | None = None
    priority: Priority | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    topic: Topic | None = None
    language: Language | None = None
    # Keys given here are set; a key given as null is removed.
    custom_fields: dict[str, Any] | None = None

    _fields = field_validator("custom_fields")(_check_custom_fields)


class MergeIn(Input):
    target_ticket_id: int


class TicketOut(Output):
    id: int
    number: int
    subject: str
    status: Status
    priority: Priority
    channel_type: str
    channel_id: int | None
    team_id: int | None
    assignee_id: int | None
    customer_id: int
    tags: list[str]
    topic: str | None
    language: str | None
    custom_fields: dict[str, Any]
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None


class AttachmentOut(Output):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    is_inline: bool


class MessageOut(Output):
    id: int
    ticket_id: int
    direction: str
    author_type: str
    author_agent_id: int | None
    author_customer_id: int | None
    is_internal: bool
    text: str
    html: str | None
    channel_type: str
    external_id: str | None
    delivery_status: str
    delivery_error: str | None
    attachments: list[AttachmentOut]
    created_at: datetime


class EventOut(Output):
    id: int
    ticket_id: int
    kind: str
    actor_type: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: datetime
