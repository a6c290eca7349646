import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from opora.runtime import Runtime
from opora.shop import service, signing
from opora.shop.adapters import PayloadError, parse_insales, parse_shopify
from opora.shop.text import extract_order_numbers
from tests.shop.test_shop_api import URL, count_orders, make_shop
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

INSALES = {
    "id": 5501,
    "number": 1042,
    "fulfillment_status": "dispatched",
    "financial_status": "paid",
    "currency_code": "RUR",
    "total_price": "2500.0",
    "created_at": "2026-05-01T10:00:00.000+03:00",
    "updated_at": "2026-05-03T09:00:00.000+03:00",
    "delivery_title": "Почта России",
    "client": {
        "id": 77,
        "email": "ivan@shop.ru",
        "phone": "+7 (912) 000-11-22",
        "name": "Иван",
        "surname": "Петров",
    },
    "order_lines": [{"title": "Кружка", "sku": "K-1", "quantity": 2, "sale_price": "1250.0"}],
}
SHOPIFY = {
    "id": 820982911946154508,
    "name": "#9999",
    "order_number": 1999,
    "email": "jon@example.com",
    "created_at": "2026-05-01T10:00:00-04:00",
    "updated_at": "2026-05-02T10:00:00-04:00",
    "currency": "USD",
    "total_price": "403.00",
    "financial_status": "paid",
    "fulfillment_status": "fulfilled",
    "cancelled_at": None,
    "customer": {"id": 115310627314723954, "first_name": "John", "last_name": "Smith", "phone": None},
    "line_items": [{"title": "IPod Nano - 8GB", "sku": "IPOD2008RED", "quantity": 1, "price": "199.00"}],
    "shipping_lines": [{"title": "Generic Shipping"}],
    "fulfillments": [{"tracking_number": "1Z2345", "tracking_url": "https://track.example/1Z2345"}],
}


def test_insales_mapping() -> None:
    data = parse_insales(INSALES, default_currency="RUB")
    assert (data.external_id, data.number, data.status, data.currency) == ("5501", "1042", "shipped", "RUB")
    assert data.total == Decimal("2500.0")
    assert data.delivery_method == "Почта России"
    assert data.buyer.name == "Иван Петров" and data.buyer.external_id == "77"
    assert data.items == [{"sku": "K-1", "name": "Кружка", "quantity": 2, "price": "1250.0"}]


def test_shopify_mapping() -> None:
    data = parse_shopify(SHOPIFY, default_currency="RUB")
    assert (data.number, data.status, data.currency, data.total) == (
        "9999",
        "shipped",
        "USD",
        Decimal("403.00"),
    )
    assert (data.tracking_number, data.delivery_method) == ("1Z2345", "Generic Shipping")
    assert data.buyer.email == "jon@example.com" and data.buyer.name == "John Smith"
    cancelled = parse_shopify({**SHOPIFY, "cancelled_at": "2026-05-03T00:00:00Z"}, default_currency="RUB")
    assert cancelled.status == "cancelled"
    with pytest.raises(PayloadError):
        parse_shopify({**SHOPIFY, "created_at": None}, default_currency="RUB")
    hostile = {**SHOPIFY, "fulfillments": [{"tracking_number": "1", "tracking_url": "javascript:alert(1)"}]}
    assert parse_shopify(hostile, default_currency="RUB").tracking_url == ""


async def test_shopify_and_insales_webhooks(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    shopify = await make_shop(client, desk, "shopify")
    body = json.dumps(SHOPIFY).encode()
    good = {"X-Shopify-Hmac-Sha256": signing.shopify_signature(shopify["webhook_secret"], body)}
    bad = {"X-Shopify-Hmac-Sha256": signing.shopify_signature("nope", body)}
    assert (
        await client.post(f"{URL}/webhooks/{shopify['id']}", content=body, headers=bad)
    ).status_code == 401
    r = await client.post(f"{URL}/webhooks/{shopify['id']}", content=body, headers=good)
    assert r.status_code == 200 and r.json()["outcome"] == "created"

    insales = await make_shop(client, desk, "insales")
    body = json.dumps(INSALES).encode()
    hook = f"{URL}/webhooks/{insales['id']}"
    assert (await client.post(hook, content=body, params={"token": "wrong"})).status_code == 401
    r = await client.post(hook, content=body, params={"token": insales["webhook_secret"]})
    assert r.status_code == 200 and r.json()["outcome"] == "created"
    assert await count_orders(runtime) == 2


CSV_OK = (
    "\ufeffexternal_id;number;status;currency;total;placed_at;customer_email;customer_name\n"
    "a1;A-1;delivered;RUB;1 200,00;2026-01-01T10:00:00Z;olga@x.ru;Ольга\n"
    "a2;A-2;new;RUB;300;2026-01-02T10:00:00Z;olga@x.ru;Ольга\n"
)


async def test_csv_import_all_or_nothing(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    shop = await make_shop(client, desk)
    path = f"{URL}/shops/{shop['id']}/import"
    broken = (
        "external_id,number,total,placed_at,customer_phone\n"
        "b1,B-1,100,2026-01-01T10:00:00Z,\n"
        "b2,B-2,ten,2026-01-01T10:00:00Z,\n"
        "b3,B-3,100,2026-01-01,\n"
        "b1,B-4,100,2026-01-01T10:00:00Z,\n"
        "b5,B-5,100,2026-01-01T10:00:00Z,12\n"
        "b6,B-6,1.005,2026-01-01T10:00:00Z,\n"
    )
    before = await snapshot(runtime)
    r = await client.post(path, content=broken.encode(), headers={**desk.admin_h, "Content-Type": "text/csv"})
    assert r.status_code == 422, r.text
    rows = [(e["line"], e["field"]) for e in r.json()["error"]["rows"]]
    assert rows == [(3, "total"), (4, "placed_at"), (5, "external_id"), (6, "customer_phone"), (7, "total")]
    assert await snapshot(runtime) == before
    missing = await client.post(path, content=b"number,total\n1,2\n", headers=desk.admin_h)
    assert [e["field"] for e in missing.json()["error"]["rows"]] == ["external_id", "placed_at"]

    r = await client.post(path, content=CSV_OK.encode(), headers=desk.admin_h)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "unchanged": 0, "stale": 0}
    again = await client.post(path, content=CSV_OK.encode(), headers=desk.admin_h)
    assert again.json()["unchanged"] == 2
    assert (await client.post(path, content=CSV_OK.encode(), headers=desk.olga_h)).status_code == 403


def test_extract_order_numbers() -> None:
    assert extract_order_numbers("Где мой заказ №12345? Телефон 89123456789") == ["12345"]
    assert extract_order_numbers("order #A-1001, и ещё заказа 77-12") == ["A-1001", "77-12"]
    assert extract_order_numbers("Номер заказа: 5555") == ["5555"]
    assert extract_order_numbers("у меня 2 вопроса про тикет #123") == []


async def test_find_order_respects_the_customer(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    shop = await make_shop(client, desk)
    await client.post(f"{URL}/shops/{shop['id']}/import", content=CSV_OK.encode(), headers=desk.admin_h)
    stranger = await client.post("/api/v1/customers", json={"name": "Чужой"}, headers=desk.olga_h)
    async with runtime.db.uow() as uow:
        any_owner = await service.find_order(uow, number="a-1", customer_id=None)
        assert any_owner is not None and any_owner.number == "A-1"
        owner: Any = any_owner.customer_id
        assert (await service.find_order(uow, number="№A-1", customer_id=owner)) is not None
        assert await service.find_order(uow, number="A-1", customer_id=stranger.json()["id"]) is None
        found = await service.orders_in_text(uow, "Что с заказом A-2?", customer_id=owner)
        assert [o.number for o in found] == ["A-2"]
        panel = await service.orders_for_ticket_page(uow, owner)
    assert [o.number for o in panel] == ["A-2", "A-1"]
    assert panel[1].total == Decimal("1200.00")
