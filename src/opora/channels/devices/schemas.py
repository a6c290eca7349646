"""API shapes of the device channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from opora.kit.schema import Input, Output


class CustomerRefIn(Input):
    """Who owns the device: any of these; the first one the desk already knows wins."""

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=320)

    @model_validator(mode="after")
    def _one_at_least(self) -> CustomerRefIn:
        if not (self.email or self.phone or self.external_id):
            raise ValueError("give the customer's email, phone or external_id")
        return self


class DeviceEventIn(Input):
    event_id: str = Field(min_length=1, max_length=200)
    device_id: str = Field(min_length=1, max_length=200)
    customer: CustomerRefIn
    severity: Literal["info", "warning", "error", "critical"]
    code: str = Field(min_length=1, max_length=100)
    text: str = Field(default="", max_length=5000)
    occurred_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class DeviceEventAccepted(Output):
    accepted: bool
    duplicate: bool
