"""Use cases of the shop integration: shops and their keys, order upserts, look-ups for the desk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy.exc import IntegrityError

from opora.customers import identity as ident
from opora.customers import repository as customers_repo
from opora.customers import segments
from opora.customers import service as customers
from opora.customers.models import Customer, IdentityKind
from opora.db import UnitOfWork
from opora.kit.crypto import SecretBox, new_token, sha256_hex
from opora.kit.errors import InvalidInput, NotFound, Unauthenticated
from opora.kit.time import utcnow
from opora.shop import repository
from opora.shop.adapters import Buyer, OrderData
from opora.shop.models import Order, Shop
from opora.shop.money import from_minor, to_minor
from opora.shop.text import extract_order_numbers

KEY_PREFIX = "osk_"
Outcome = Literal["created", "updated", "unchanged", "stale"]
TICKET_PAGE_ORDERS = 5


@dataclass(frozen=True)
class NewShop:
    shop: Shop
    api_key: str
    webhook_secret: str


@dataclass(frozen=True)
class OrderView:
    """What the ticket page and the bot show of an order."""

    id: int
    number: str
    status: str
    status_label: str
    total: Decimal
    currency: str
    placed_at: str
    delivery_method: str
    tracking_number: str
    tracking_url: str
    items: list[dict[str, object]]


async def create_shop(uow: UnitOfWork, box: SecretBox, *, name: str, platform: str, currency: str) -> NewShop:
    key = KEY_PREFIX + new_token()
    secret = new_token()
    shop = Shop(
        name=name,
        platform=platform,
        key_prefix=key[:12],
        key_hash=sha256_hex(key),
        webhook_secret_encrypted=box.seal({"webhook_secret": secret}),
        currency=currency,
    )
    await repository.add(uow.session, shop)
    return NewShop(shop=shop, api_key=key, webhook_secret=secret)


def webhook_secret(box: SecretBox, shop: Shop) -> str:
    return str(box.open(shop.webhook_secret_encrypted)["webhook_secret"])


async def shop_by_key(uow: UnitOfWork, key: str | None) -> Shop:
    if not key or not key.startswith(KEY_PREFIX):
        raise Unauthenticated("Send the shop's API key in X-Opora-Shop-Key.")
    shop = await repository.shop_by_key_hash(uow.session, sha256_hex(key.strip()))
    if shop is None or not shop.is_active:
        raise Unauthenticated("The shop API key is not valid.")
    return shop


async def list_shops(uow: UnitOfWork) -> Sequence[Shop]:
    return await repository.list_shops(uow.session)


async def get_shop_or_none(uow: UnitOfWork, shop_id: int) -> Shop | None:
    return await repository.get_shop(uow.session, shop_id)


async def get_shop(uow: UnitOfWork, shop_id: int) -> Shop:
    shop = await repository.get_shop(uow.session, shop_id)
    if shop is None:
        raise NotFound(f"Shop {shop_id} does not exist.")
    return shop


# -- customers of orders --------------------------------------------------------------------------


def _buyer_identities(shop: Shop, buyer: Buyer) -> list[tuple[IdentityKind, str]]:
    """Strongest first. Malformed e-mails or phones are dropped: the order still counts."""
    result: list[tuple[IdentityKind, str]] = []
    if buyer.external_id:
        result.append((IdentityKind.SHOP, f"{shop.id}:{buyer.external_id}"))
    for kind, value in ((IdentityKind.EMAIL, buyer.email), (IdentityKind.PHONE, buyer.phone)):
        if value:
            try:
                result.append((kind, ident.normalize_value(kind, value)))
            except InvalidInput:
                continue
    return result


async def link_buyer(uow: UnitOfWork, shop: Shop, buyer: Buyer) -> int | None:
    """The customer of these identities: found by the strongest known one, else created.

    Identities nobody owns are added to that customer; one owned by another customer is left
    alone, since a shop's data is no reason to merge two people (suggested merges show them).
    """
    pairs = _buyer_identities(shop, buyer)
    if not pairs:
        return None
    owner = None
    for kind, value in pairs:
        found = await customers_repo.find_identity(uow.session, kind, value)
        if found is not None:
            owner = await customers.resolve_customer(uow, found.customer_id)
            break
    if owner is None:
        kind, value = pairs[0]
        owner = await customers.find_or_create_by_identity(uow, kind, value, name=buyer.name)
    elif not owner.name and buyer.name:
        owner.name = buyer.name[: customers.NAME_LENGTH]
    for kind, value in pairs:
        if await customers_repo.find_identity(uow.session, kind, value) is None:
            try:
                async with uow.session.begin_nested():
                    await customers_repo.insert_identity(uow.session, owner.id, kind, value)
            except IntegrityError:
                continue  # taken concurrently by someone else: leave it there
    return owner.id


# -- orders ---------------------------------------------------------------------------------------


async def upsert_order(uow: UnitOfWork, shop: Shop, data: OrderData) -> tuple[Order, Outcome]:
    """Create or update by (shop, external id). An update older than what is stored changes nothing."""
    total = _minor(data)
    customer_id = await link_buyer(uow, shop, data.buyer)
    order = await repository.order_by_external(uow.session, shop.id, data.external_id, lock=True)
    now = utcnow()
    if order is None:
        order = Order(
            shop_id=shop.id, external_id=data.external_id, created_at=now, source_updated_at=data.updated_at
        )
        outcome: Outcome = "created"
    elif data.updated_at < order.source_updated_at:
        return order, "stale"
    elif data.updated_at == order.source_updated_at:
        return order, "unchanged"
    else:
        outcome = "updated"
    old_customer = order.customer_id
    order.number = data.number
    order.status = data.status
    order.status_label = data.status_label
    order.currency = data.currency
    order.total_minor = total
    order.items = data.items
    order.delivery_method = data.delivery_method
    order.tracking_number = data.tracking_number
    order.tracking_url = data.tracking_url
    order.placed_at = data.placed_at
    order.source_updated_at = data.updated_at
    order.updated_at = now
    if customer_id is not None:
        order.customer_id = customer_id
    if outcome == "created":
        try:
            async with uow.session.begin_nested():
                await repository.add(uow.session, order)
        except IntegrityError:
            # The same order arrived twice at once; the other request stored it.
            found = await repository.order_by_external(uow.session, shop.id, data.external_id)
            assert found is not None
            return found, "unchanged"
    await uow.session.flush()
    # The figures move with the order, and a rule may now put the customer into a segment.
    await segments.refresh(uow, [c for c in (old_customer, order.customer_id) if c is not None])
    return order, outcome


def _minor(data: OrderData) -> int:
    try:
        return to_minor(data.total, data.currency)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="total") from None


async def find_order(uow: UnitOfWork, *, number: str, customer_id: int | None) -> Order | None:
    """The order with this number; with ``customer_id``, only one of that customer (or records merged into it).

    The bot passes the customer it is talking to, so nobody learns the status of someone else's
    order by guessing numbers.
    """
    clean = number.strip().lstrip("#№").strip()
    if not clean:
        return None
    owners: list[int] | None = None
    if customer_id is not None:
        try:
            owner = await customers.resolve_customer(uow, customer_id)
        except NotFound:
            return None
        owners = [
            owner.id,
            *await customers_repo.ids_where(uow.session, Customer.merged_into_id, owner.id),
        ]
    found = await repository.orders_by_number(uow.session, clean, customer_ids=owners)
    return found[0] if found else None


async def orders_in_text(uow: UnitOfWork, text: str, *, customer_id: int | None) -> list[Order]:
    """Orders whose numbers the text mentions (see opora.shop.text)."""
    result = []
    for number in extract_order_numbers(text):
        order = await find_order(uow, number=number, customer_id=customer_id)
        if order is not None and order not in result:
            result.append(order)
    return result


def view(order: Order) -> OrderView:
    return OrderView(
        id=order.id,
        number=order.number,
        status=order.status,
        status_label=order.status_label,
        total=from_minor(order.total_minor, order.currency),
        currency=order.currency,
        placed_at=order.placed_at.isoformat(),
        delivery_method=order.delivery_method,
        tracking_number=order.tracking_number,
        tracking_url=order.tracking_url,
        items=list(order.items or []),
    )


async def orders_for_ticket_page(uow: UnitOfWork, customer_id: int) -> list[OrderView]:
    """The customer's latest orders for the panel on the ticket page (partial _customer_panel_orders.html)."""
    owner = await customers.resolve_customer(uow, customer_id)
    return [view(o) for o in await repository.recent_orders(uow.session, owner.id, limit=TICKET_PAGE_ORDERS)]


async def upsert_many(uow: UnitOfWork, shop: Shop, rows: Sequence[OrderData]) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0, "stale": 0}
    for data in rows:
        _order, outcome = await upsert_order(uow, shop, data)
        counts[outcome] += 1
    return counts
