"""API shapes of the shop integration."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from opora.kit.schema import Input, Output
from opora.shop.models import Platform

Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{3}$")]


class ShopCreate(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    platform: Platform = Platform.GENERIC
    currency: Currency = "RUB"


class ShopOut(Output):
    id: int
    name: str
    platform: Platform
    key_prefix: str
    currency: str
    is_active: bool
    created_at: datetime


class ShopCreated(ShopOut):
    # Shown once: the desk keeps only a hash of the key and a sealed copy of the secret.
    api_key: str
    webhook_secret: str


class OrderOut(Output):
    id: int
    shop_id: int
    external_id: str
    number: str
    customer_id: int | None
    status: str
    status_label: str
    currency: str
    total: Decimal
    items: list[dict[str, Any]]
    delivery_method: str
    tracking_number: str
    tracking_url: str
    placed_at: datetime
    source_updated_at: datetime
    updated_at: datetime


class UpsertOut(Output):
    order: OrderOut
    # "created", "updated", "unchanged" (a replay) or "stale" (older than what is stored)
    outcome: str


class CustomerPush(Input):
    """A shop's customer: linked by the shop's id, e-mail or phone, created if none is known."""

    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    name: str = Field(default="", max_length=200)
    segment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = (
        None
    )


class ImportOut(Output):
    created: int
    updated: int
    unchanged: int
    stale: int


class WebhookOut(Output):
    outcome: str
    order_id: int
