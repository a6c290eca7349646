"""API shapes for customers and their identities."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from opora.customers.identity import MAX_VALUE_LENGTH
from opora.customers.models import IdentityKind
from opora.kit.schema import Input, Language, Output

# PostgreSQL BIGINT; larger ids would fail in the driver with a 500 instead of a clear 404/422.
MAX_ID = 2**63 - 1
MAX_IDENTITIES = 50
MAX_CUSTOM_FIELDS = 50

CustomerName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Segment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
FieldKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# Scalars only: custom fields are shown and filtered in the UI, nested objects would not be.
FieldValue = Annotated[str, StringConstraints(max_length=2000)] | int | float | bool | None
CustomFields = Annotated[dict[FieldKey, FieldValue], Field(max_length=MAX_CUSTOM_FIELDS)]
CustomerId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_TAGS = 30
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class IdentityIn(Input):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=MAX_VALUE_LENGTH)


class IdentityOut(Output):
    id: int
    kind: IdentityKind
    value: str
    created_at: datetime


class CustomerCreate(Input):
    """A new customer: a name, at least one identity, or both."""

    name: CustomerName = ""
    language: Language | None = None
    segment: Segment | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=MAX_IDENTITIES)
    timezone: TimeZone | None = None


class CustomerUpdate(Input):
    """Only the fields sent change.

    ``language`` and ``segment`` may be set to null to clear them. ``custom_fields`` is merged
    into the stored fields key by key; a key sent as null is removed.
    """

    name: CustomerName | None = None
    language: Language | None = None
    segment: Segment | None = None
    custom_fields: CustomFields | None = None
    # An IANA zone name ("Europe/Moscow"); null clears it.
    timezone: TimeZone | None = None
    # Replaces the whole set.
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None


class MergeIn(Input):
    merged_customer_id: CustomerId


class CustomerOut(Output):
    id: int
    name: str
    language: str | None
    segment: str | None
    # "manual" (a person chose it; rules leave it alone), "rule", or null (no segment).
    segment_source: str | None
    # Any JSON on output: other modules (shop sync) may store what the API would not accept.
    custom_fields: dict[str, Any]
    # Set on a customer that was merged away: clients follow it to the surviving record.
    merged_into_id: int | None
    identities: list[IdentityOut]
    timezone: str | None
    tags: list[str]
    orders_count: int
    # Spend in ``spend_currency`` (the currency of most of the customer's orders), as a decimal string.
    total_spent: Decimal
    spend_currency: str | None
    last_order_at: datetime | None
    erased_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UnmergeIn(Input):
    merged_customer_id: CustomerId


class DismissIn(Input):
    other_customer_id: CustomerId


class SuggestionOut(Output):
    customer: CustomerOut
    # "phone_digits", "same_name", "email_local_part"
    reasons: list[str]


class NoteIn(Input):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class NoteOut(Output):
    id: int
    author_agent_id: int | None
    text: str
    created_at: datetime


class LifetimeOut(Output):
    tickets: int
    open_tickets: int
    orders: int
    spend: Decimal
    currency: str | None
    last_order_at: datetime | None
    # Null until the customer has rated a conversation.
    csat_average: float | None
    csat_responses: int


class ProfileOut(Output):
    customer: CustomerOut
    lifetime: LifetimeOut
    notes: list[NoteOut]


class TimelineItem(Output):
    kind: str  # "ticket" or "order"
    at: datetime
    ticket_id: int | None = None
    order_id: int | None = None
    title: str
    status: str
    channel_type: str | None = None
    total: Decimal | None = None
    currency: str | None = None


class TimelineOut(Output):
    items: list[TimelineItem]
    # Tickets of teams the caller may not see: counted, not listed.
    hidden_tickets: int


class SegmentRuleIn(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    segment: Segment
    # {"all": [...], "any": [...]} over customer.tickets / orders / spend / csat_average.
    conditions: dict[str, Any]
    is_active: bool = True


class SegmentRuleUpdate(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    segment: Segment | None = None
    conditions: dict[str, Any] | None = None
    is_active: bool | None = None


class SegmentRuleOut(Output):
    id: int
    name: str
    segment: str
    position: int
    conditions: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SegmentRuleOrder(Input):
    rule_ids: list[CustomerId] = Field(max_length=1000)


class SegmentChangeOut(Output):
    id: int
    old: str | None
    new: str | None
    source: str | None
    rule_id: int | None
    actor_type: str
    actor_id: int | None
    created_at: datetime
