"""API shapes of personal-data handling."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from opora.kit.schema import Input, Output


class EraseIn(Input):
    # The customer's id again: a deliberate second statement of whom to erase.
    confirm: int = Field(ge=1)


class ErasureOut(Output):
    customer_id: int
    tickets: int
    messages: int
    files_deleted: int


class RetentionIn(Input):
    # Months after closing; null keeps closed tickets' texts for good.
    closed_ticket_months: int | None = Field(default=None, ge=1, le=120)


class RetentionOut(Output):
    closed_ticket_months: int | None


class AccessOut(Output):
    id: int
    agent_id: int | None
    customer_id: int
    what: str
    created_at: datetime
