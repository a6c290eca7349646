"""API shapes of automation: rules, their runs, the dry run, webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from opora.kit.schema import Input, Name, Output

# Ticket events that may start a rule. SLA and CSAT kinds are recorded by their own modules; a
# rule on them simply waits until those modules record them.
TRIGGER_KINDS = (
    "ticket_created",
    "message_added",
    "status_changed",
    "assigned",
    "team_changed",
    "priority_changed",
    "tags_changed",
    "sla_warning",
    "sla_breached",
    "csat_received",
    # Recorded on the customer's open tickets when a person or a segment rule changes the segment.
    "customer_segment_changed",
)


def _check_events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = [kind for kind in value if kind not in TRIGGER_KINDS]
    if unknown:
        raise ValueError(f"unknown event kind {unknown[0]!r}; use {', '.join(TRIGGER_KINDS)}")
    return sorted(set(value), key=TRIGGER_KINDS.index)


class RuleIn(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    is_active: bool = True
    events: list[str] = Field(min_length=1, max_length=len(TRIGGER_KINDS))
    conditions: dict[str, Any] = Field(default_factory=dict)
    actions: list[dict[str, Any]]

    _events = field_validator("events")(_check_events)


class RuleUpdate(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(TRIGGER_KINDS))
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None

    _events = field_validator("events")(_check_events)


class RuleOut(Output):
    id: int
    name: str
    description: str
    is_active: bool
    position: int
    events: list[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class ReorderIn(Input):
    """Every rule's id, in the order the rules should run."""

    rule_ids: list[int] = Field(max_length=1000)


class DryRunIn(Input):
    ticket_id: int
    event_kind: str

    @field_validator("event_kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in TRIGGER_KINDS:
            raise ValueError(f"unknown event kind {value!r}; use {', '.join(TRIGGER_KINDS)}")
        return value


class DryRunRule(Output):
    rule_id: int
    name: str
    position: int
    fires: bool
    reason: str | None
    actions: list[dict[str, Any]]


class DryRunOut(Output):
    ticket_id: int
    event_kind: str
    rules: list[DryRunRule]


class RuleRunOut(Output):
    id: int
    rule_id: int | None
    rule_name: str
    ticket_id: int
    event_kind: str
    event_actor_type: str
    depth: int
    actions: list[dict[str, Any]]
    error: str | None
    created_at: datetime


class WebhookIn(Input):
    name: Name
    url: str = Field(min_length=8, max_length=2000)
    # Given by the admin, or generated; shown once in the answer to the creation.
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    is_active: bool = True


class WebhookUpdate(Input):
    name: Name | None = None
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    is_active: bool | None = None
    rotate_secret: bool = False


class WebhookOut(Output):
    id: int
    name: str
    url: str
    is_active: bool
    secret_hint: str
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str


class AttemptOut(Output):
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None
    created_at: datetime


class DeliveryOut(Output):
    id: int
    webhook_id: int
    rule_id: int | None
    ticket_id: int | None
    event_kind: str
    state: str
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut]


class AllowIn(Input):
    network: str = Field(min_length=2, max_length=64)
    note: str = Field(default="", max_length=200)


class AllowOut(Output):
    id: int
    network: str
    note: str
    created_at: datetime
