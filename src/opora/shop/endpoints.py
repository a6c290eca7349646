"""/api/v1/shop: the shop pushes orders and customers; admins connect shops and import CSV files.

Three ways in, three kinds of proof: the push API takes the shop's key in ``X-Opora-Shop-Key``;
webhooks prove themselves by signature (no key travels with them); shop management and the CSV
import are for admins.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from opora.auth.deps import Admin, CurrentPrincipal, RuntimeDep, Uow
from opora.customers import segments
from opora.customers import service as customers
from opora.customers.schemas import MAX_ID, CustomerOut
from opora.events.service import SYSTEM
from opora.kit.errors import InvalidInput, NotFound, PayloadTooLarge, Unauthenticated
from opora.shop import csv_import, service, signing
from opora.shop.adapters import PARSERS, Buyer, PayloadError
from opora.shop.models import Order, Platform
from opora.shop.money import from_minor
from opora.shop.schemas import (
    CustomerPush,
    ImportOut,
    OrderOut,
    ShopCreate,
    ShopCreated,
    ShopOut,
    UpsertOut,
    WebhookOut,
)

router = APIRouter(prefix="/api/v1/shop", tags=["shop"])
ShopIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_BODY = 1_000_000
MAX_CSV = 20_000_000


def order_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        shop_id=order.shop_id,
        external_id=order.external_id,
        number=order.number,
        customer_id=order.customer_id,
        status=order.status,
        status_label=order.status_label,
        currency=order.currency,
        total=from_minor(order.total_minor, order.currency),
        items=order.items or [],
        delivery_method=order.delivery_method,
        tracking_number=order.tracking_number,
        tracking_url=order.tracking_url,
        placed_at=order.placed_at,
        source_updated_at=order.source_updated_at,
        updated_at=order.updated_at,
    )


async def _body(request: Request, limit: int) -> bytes:
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.", limit=limit)
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidInput("The body must be a JSON object.")
    return payload


# -- admin: shops ---------------------------------------------------------------------------------


@router.post("/shops", status_code=201)
async def create_shop(data: ShopCreate, uow: Uow, runtime: RuntimeDep, _admin: Admin) -> ShopCreated:
    made = await service.create_shop(
        uow, runtime.secrets, name=data.name, platform=data.platform, currency=data.currency
    )
    base = ShopOut.model_validate(made.shop).model_dump()
    return ShopCreated(**base, api_key=made.api_key, webhook_secret=made.webhook_secret)


@router.get("/shops")
async def list_shops(uow: Uow, _admin: Admin) -> list[ShopOut]:
    return [ShopOut.model_validate(s) for s in await service.list_shops(uow)]


@router.post("/shops/{shop_id}/import")
async def import_csv(shop_id: ShopIdPath, request: Request, uow: Uow, _admin: Admin) -> ImportOut:
    """A CSV of orders (columns in docs/customers-and-orders.md): all rows or none."""
    shop = await service.get_shop(uow, shop_id)
    raw = await _body(request, MAX_CSV)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8; save it as 'CSV UTF-8'.") from None
    rows, errors = csv_import.parse(text, default_currency=shop.currency)
    if errors:
        raise InvalidInput(
            f"{len(errors)} problem(s) in the file; nothing was imported.",
            rows=[{"line": e.line, "field": e.field, "message": e.message} for e in errors[:500]],
        )
    return ImportOut(**await service.upsert_many(uow, shop, rows))


# -- the shop itself: push API ----------------------------------------------------------------------


@router.post("/orders")
async def push_order(
    request: Request, uow: Uow, x_opora_shop_key: Annotated[str | None, Header()] = None
) -> UpsertOut:
    """Create or update one order (Opora's JSON format), idempotent by ``external_id``."""
    shop = await service.shop_by_key(uow, x_opora_shop_key)
    payload = _json(await _body(request, MAX_BODY))
    try:
        data = PARSERS[Platform.GENERIC](payload, default_currency=shop.currency)
    except PayloadError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    order, outcome = await service.upsert_order(uow, shop, data)
    return UpsertOut(order=order_out(order), outcome=outcome)


@router.post("/customers")
async def push_customer(
    data: CustomerPush, uow: Uow, x_opora_shop_key: Annotated[str | None, Header()] = None
) -> CustomerOut:
    shop = await service.shop_by_key(uow, x_opora_shop_key)
    customer_id = await service.link_buyer(
        uow, shop, Buyer(external_id=data.external_id, email=data.email, phone=data.phone, name=data.name)
    )
    assert customer_id is not None  # external_id is required, so there is always an identity
    customer = await customers.get_customer(uow, customer_id)
    if data.segment and not segments.is_manual(customer):
        # The shop's segment is a person's choice over there; the desk's own manual one wins.
        await segments.set_manual(uow, customer, data.segment, actor=SYSTEM)
    return (await customers.customer_out(uow, [customer]))[0]


# -- webhooks ---------------------------------------------------------------------------------------


@router.post("/webhooks/{shop_id}")
async def webhook(
    shop_id: ShopIdPath,
    request: Request,
    uow: Uow,
    runtime: RuntimeDep,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> WebhookOut:
    """A signed order webhook in the shop's platform format; 401 and nothing stored if unsigned."""
    shop = await service.get_shop_or_none(uow, shop_id)
    body = await _body(request, MAX_BODY)
    if (
        shop is None
        or not shop.is_active
        or not _verified(request, shop.platform, service.webhook_secret(runtime.secrets, shop), body, token)
    ):
        # The same answer for an unknown shop and a bad signature: ids are not to be probed.
        raise Unauthenticated("The webhook signature is not valid.")
    try:
        data = PARSERS[shop.platform](_json(body), default_currency=shop.currency)
    except PayloadError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    order, outcome = await service.upsert_order(uow, shop, data)
    return WebhookOut(outcome=outcome, order_id=order.id)


def _verified(request: Request, platform: str, secret: str, body: bytes, token: str | None) -> bool:
    if platform == Platform.SHOPIFY:
        return signing.verify_shopify(secret, request.headers.get("x-shopify-hmac-sha256"), body)
    if platform == Platform.INSALES:
        return signing.verify_token(secret, token)
    return signing.verify_generic(
        secret,
        request.headers.get("x-opora-timestamp"),
        request.headers.get("x-opora-signature"),
        body,
        now=time.time(),
    )


# -- the desk: orders -------------------------------------------------------------------------------


@router.get("/orders/by-number/{number}")
async def order_by_number(
    number: Annotated[str, Path(min_length=1, max_length=64)],
    uow: Uow,
    _principal: CurrentPrincipal,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> OrderOut:
    order = await service.find_order(uow, number=number, customer_id=customer_id)
    if order is None:
        raise NotFound(f"No order number {number}.")
    return order_out(order)
