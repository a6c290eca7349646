"""Platform webhook formats → one plain order record. Pure functions over parsed JSON.

Each adapter maps what the platform documents; anything it does not know stays out. The mapping
tables are repeated in docs/customers-and-orders.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from opora.shop.models import OrderStatus, Platform
from opora.shop.money import parse_amount


class PayloadError(ValueError):
    """The payload does not describe an order; ``field`` names the part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Buyer:
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str = ""


@dataclass(frozen=True)
class OrderData:
    external_id: str
    number: str
    status: str
    status_label: str
    currency: str
    total: Decimal
    placed_at: datetime
    updated_at: datetime
    items: list[dict[str, Any]] = field(default_factory=list)
    delivery_method: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    buyer: Buyer = Buyer()


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value).strip()[:limit]


def _url(value: Any) -> str:
    # Shown as a link on the ticket page: anything but http(s) (javascript:, data:) is dropped.
    url = _text(value, 500)
    return url if url.lower().startswith(("https://", "http://")) else ""


def _required(payload: Mapping[str, Any], key: str, limit: int = 100) -> str:
    value = _text(payload.get(key), limit)
    if not value:
        raise PayloadError(f"{key} is required", key)
    return value


def parse_time(value: Any, key: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{key} must be an ISO 8601 date-time", key)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{key} must be an ISO 8601 date-time", key) from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{key} needs a time zone (…Z or +03:00)", key)
    return parsed.astimezone(UTC)


def _amount(value: Any, key: str) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError:
        raise PayloadError(f"{key} must be a decimal amount", key) from None


def _currency(value: Any, default: str) -> str:
    code = _text(value, 3).upper() or default
    code = "RUB" if code == "RUR" else code  # InSales and older systems still say RUR
    if len(code) != 3 or not code.isalpha():
        raise PayloadError("currency must be an ISO 4217 code", "currency")
    return code


def number_of(value: str) -> str:
    """Order numbers are stored and matched without the "#" or "№" people put before them."""
    return value.strip().lstrip("#№").strip()[:64]


def _items(lines: Any, name_key: str, price_key: str, sku_key: str = "sku") -> list[dict[str, Any]]:
    if lines is None:
        return []
    if not isinstance(lines, list):
        raise PayloadError("items must be a list", "items")
    result = []
    for index, line in enumerate(lines[:200]):
        if not isinstance(line, Mapping):
            raise PayloadError("an item must be an object", f"items.{index}")
        quantity = line.get("quantity", 1)
        if not isinstance(quantity, int | float) or isinstance(quantity, bool) or quantity < 0:
            raise PayloadError("quantity must be a non-negative number", f"items.{index}.quantity")
        result.append(
            {
                "sku": _text(line.get(sku_key), 100),
                "name": _text(line.get(name_key), 300),
                "quantity": quantity,
                "price": str(_amount(line.get(price_key, 0), f"items.{index}.price")),
            }
        )
    return result


# -- Opora's own format -------------------------------------------------------------------------

GENERIC_STATUSES = frozenset(s.value for s in OrderStatus)


def parse_generic(payload: Mapping[str, Any], *, default_currency: str) -> OrderData:
    status = _text(payload.get("status"), 20).lower() or OrderStatus.NEW.value
    if status not in GENERIC_STATUSES:
        raise PayloadError(f"status must be one of {', '.join(sorted(GENERIC_STATUSES))}", "status")
    customer = payload.get("customer") or {}
    if not isinstance(customer, Mapping):
        raise PayloadError("customer must be an object", "customer")
    placed = parse_time(payload.get("placed_at"), "placed_at")
    return OrderData(
        external_id=_required(payload, "external_id"),
        number=number_of(_required(payload, "number", 64)),
        status=status,
        status_label=_text(payload.get("status_label"), 100),
        currency=_currency(payload.get("currency"), default_currency),
        total=_amount(payload.get("total"), "total"),
        placed_at=placed,
        updated_at=parse_time(payload["updated_at"], "updated_at") if payload.get("updated_at") else placed,
        items=_items(payload.get("items"), "name", "price"),
        delivery_method=_text(payload.get("delivery_method"), 200),
        tracking_number=_text(payload.get("tracking_number"), 100),
        tracking_url=_url(payload.get("tracking_url")),
        buyer=Buyer(
            external_id=_text(customer.get("external_id"), 100) or None,
            email=_text(customer.get("email"), 254) or None,
            phone=_text(customer.get("phone"), 40) or None,
            name=_text(customer.get("name"), 200),
        ),
    )


# -- InSales (orders/create and orders/update webhooks, JSON) --------------------------------------

INSALES_STATUSES = {
    "new": OrderStatus.NEW,
    "accepted": OrderStatus.PROCESSING,
    "approved": OrderStatus.PROCESSING,
    "dispatched": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "returned": OrderStatus.RETURNED,
    "declined": OrderStatus.CANCELLED,
}


def parse_insales(payload: Mapping[str, Any], *, default_currency: str) -> OrderData:
    fulfillment = _text(payload.get("fulfillment_status"), 40).lower()
    status = INSALES_STATUSES.get(fulfillment, OrderStatus.NEW)
    if status is OrderStatus.NEW and _text(payload.get("financial_status"), 20).lower() == "paid":
        status = OrderStatus.PAID
    client = payload.get("client") or {}
    if not isinstance(client, Mapping):
        raise PayloadError("client must be an object", "client")
    name = " ".join(p for p in (_text(client.get("name"), 100), _text(client.get("surname"), 100)) if p)
    placed = parse_time(payload.get("created_at"), "created_at")
    return OrderData(
        external_id=_required(payload, "id"),
        number=number_of(_required(payload, "number", 64)),
        status=status.value,
        status_label=fulfillment,
        currency=_currency(payload.get("currency_code"), default_currency),
        total=_amount(payload.get("total_price"), "total_price"),
        placed_at=placed,
        updated_at=parse_time(payload["updated_at"], "updated_at") if payload.get("updated_at") else placed,
        items=_items(payload.get("order_lines"), "title", "sale_price"),
        delivery_method=_text(payload.get("delivery_title"), 200),
        tracking_number=_text(
            payload.get("delivery_info", {}).get("tracking_number")
            if isinstance(payload.get("delivery_info"), Mapping)
            else None,
            100,
        ),
        buyer=Buyer(
            external_id=_text(client.get("id"), 100) or None,
            email=_text(client.get("email"), 254) or None,
            phone=_text(client.get("phone"), 40) or None,
            name=name,
        ),
    )


# -- Shopify (orders/create, orders/updated, orders/cancelled webhooks) -----------------------------

SHOPIFY_FULFILLMENT = {"fulfilled": OrderStatus.SHIPPED, "partial": OrderStatus.PROCESSING}
SHOPIFY_FINANCIAL = {
    "paid": OrderStatus.PAID,
    "refunded": OrderStatus.RETURNED,
    "voided": OrderStatus.CANCELLED,
}


def parse_shopify(payload: Mapping[str, Any], *, default_currency: str) -> OrderData:
    financial = _text(payload.get("financial_status"), 40).lower()
    fulfillment = _text(payload.get("fulfillment_status"), 40).lower()
    if payload.get("cancelled_at"):
        status = OrderStatus.CANCELLED
    elif fulfillment in SHOPIFY_FULFILLMENT:
        status = SHOPIFY_FULFILLMENT[fulfillment]
    else:
        status = SHOPIFY_FINANCIAL.get(financial, OrderStatus.NEW)
    customer = payload.get("customer") or {}
    if not isinstance(customer, Mapping):
        raise PayloadError("customer must be an object", "customer")
    name = " ".join(
        p for p in (_text(customer.get("first_name"), 100), _text(customer.get("last_name"), 100)) if p
    )
    tracking_number = tracking_url = ""
    fulfillments = payload.get("fulfillments")
    if isinstance(fulfillments, list) and fulfillments and isinstance(fulfillments[-1], Mapping):
        tracking_number = _text(fulfillments[-1].get("tracking_number"), 100)
        tracking_url = _url(fulfillments[-1].get("tracking_url"))
    shipping = payload.get("shipping_lines")
    delivery = ""
    if isinstance(shipping, list) and shipping and isinstance(shipping[0], Mapping):
        delivery = _text(shipping[0].get("title"), 200)
    placed = parse_time(payload.get("created_at"), "created_at")
    return OrderData(
        external_id=_required(payload, "id"),
        number=number_of(_text(payload.get("name"), 64) or _required(payload, "order_number", 64)),
        status=status.value,
        status_label=" / ".join(p for p in (financial, fulfillment) if p),
        currency=_currency(payload.get("currency"), default_currency),
        total=_amount(payload.get("total_price"), "total_price"),
        placed_at=placed,
        updated_at=parse_time(payload["updated_at"], "updated_at") if payload.get("updated_at") else placed,
        items=_items(payload.get("line_items"), "title", "price"),
        delivery_method=delivery,
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        buyer=Buyer(
            external_id=_text(customer.get("id"), 100) or None,
            email=_text(customer.get("email") or payload.get("email"), 254) or None,
            phone=_text(customer.get("phone") or payload.get("phone"), 40) or None,
            name=name,
        ),
    )


PARSERS: dict[str, Callable[..., OrderData]] = {
    Platform.GENERIC: parse_generic,
    Platform.INSALES: parse_insales,
    Platform.SHOPIFY: parse_shopify,
}
