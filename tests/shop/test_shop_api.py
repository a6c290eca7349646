import json
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from opora.runtime import Runtime
from opora.shop import signing
from opora.shop.models import Order
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

URL = "/api/v1/shop"


async def make_shop(client: httpx.AsyncClient, desk: Desk, platform: str = "generic") -> dict[str, Any]:
    r = await client.post(f"{URL}/shops", json={"name": "Лавка", "platform": platform}, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def order(external_id: str = "o-1", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": external_id,
        "number": "#1001",
        "status": "paid",
        "currency": "RUB",
        "total": "1990.50",
        "placed_at": "2026-05-01T10:00:00+03:00",
        "updated_at": "2026-05-01T10:00:00Z",
        "items": [{"sku": "T-1", "name": "Чайник", "quantity": 1, "price": "1990.50"}],
        "delivery_method": "СДЭК",
        "customer": {
            "external_id": "c-7",
            "email": "Anna@Mail.ru",
            "phone": "8 912 345-67-89",
            "name": "Анна",
        },
    }
    base.update(over)
    return base


def signed(
    shop: dict[str, Any], payload: dict[str, Any], *, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    ts = int(time.time()) if at is None else at
    headers = {
        "X-Opora-Timestamp": str(ts),
        "X-Opora-Signature": signing.sign(shop["webhook_secret"], ts, body),
        "Content-Type": "application/json",
    }
    return body, headers


async def count_orders(runtime: Runtime) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Order)) or 0)


async def test_push_api_creates_links_customer_and_figures(client: httpx.AsyncClient, desk: Desk) -> None:
    shop = await make_shop(client, desk)
    key = {"X-Opora-Shop-Key": shop["api_key"]}
    r = await client.post(f"{URL}/orders", json=order(), headers=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "created"
    assert body["order"]["number"] == "1001"
    assert body["order"]["total"] == "1990.50"
    customer_id = body["order"]["customer_id"]
    c = (await client.get(f"/api/v1/customers/{customer_id}", headers=desk.olga_h)).json()
    assert c["name"] == "Анна"
    assert sorted((i["kind"], i["value"]) for i in c["identities"]) == [
        ("email", "anna@mail.ru"),
        ("phone", "+79123456789"),
        ("shop", f"{shop['id']}:c-7"),
    ]
    assert (c["orders_count"], c["total_spent"], c["spend_currency"]) == (1, "1990.50", "RUB")

    cancelled = order("o-2", number="1002", status="cancelled", total="500")
    assert (await client.post(f"{URL}/orders", json=cancelled, headers=key)).status_code == 200
    c = (await client.get(f"/api/v1/customers/{customer_id}", headers=desk.olga_h)).json()
    assert (c["orders_count"], c["total_spent"]) == (2, "1990.50")  # a cancelled order is no spend

    found = await client.get(f"{URL}/orders/by-number/%E2%84%961001", headers=desk.olga_h)
    assert found.status_code == 200 and found.json()["external_id"] == "o-1"


async def test_push_api_refuses_without_a_valid_key(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    await make_shop(client, desk)
    before = await snapshot(runtime)
    for headers in ({}, {"X-Opora-Shop-Key": "osk_wrong"}, desk.admin_h):
        r = await client.post(f"{URL}/orders", json=order(), headers=headers)
        assert r.status_code == 401, r.text
    assert await snapshot(runtime) == before


async def test_webhook_signature_failures_store_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    shop = await make_shop(client, desk)
    other = await make_shop(client, desk)
    body, headers = signed(shop, order())
    before = await snapshot(runtime)
    bad = [
        {**headers, "X-Opora-Signature": "sha256=" + "0" * 64},
        {k: v for k, v in headers.items() if k != "X-Opora-Signature"},
        {k: v for k, v in headers.items() if k != "X-Opora-Timestamp"},
        signed(other, order())[1],  # signed with another shop's secret
        signed(shop, order(), at=int(time.time()) - 3600)[1],  # a replay from an hour ago
    ]
    for h in bad:
        r = await client.post(f"{URL}/webhooks/{shop['id']}", content=body, headers=h)
        assert r.status_code == 401, r.text
    tampered = body.replace(b"1990.50", b"1.00")
    assert (
        await client.post(f"{URL}/webhooks/{shop['id']}", content=tampered, headers=headers)
    ).status_code == 401
    assert (await client.post(f"{URL}/webhooks/999999", content=body, headers=headers)).status_code == 401
    assert await snapshot(runtime) == before


async def test_webhook_replay_and_out_of_order(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    shop = await make_shop(client, desk)
    hook = f"{URL}/webhooks/{shop['id']}"
    first = order(status="paid", updated_at="2026-05-01T10:00:00Z")
    body, headers = signed(shop, first)
    assert (await client.post(hook, content=body, headers=headers)).json()["outcome"] == "created"
    assert (await client.post(hook, content=body, headers=headers)).json()["outcome"] == "unchanged"

    newer = order(status="shipped", tracking_number="RA123", updated_at="2026-05-02T10:00:00Z")
    body2, headers2 = signed(shop, newer)
    assert (await client.post(hook, content=body2, headers=headers2)).json()["outcome"] == "updated"
    late = order(status="paid", updated_at="2026-05-01T12:00:00Z")  # sent before "shipped", arrived after
    body3, headers3 = signed(shop, late)
    assert (await client.post(hook, content=body3, headers=headers3)).json()["outcome"] == "stale"

    assert await count_orders(runtime) == 1
    async with runtime.db.uow() as uow:
        stored = (await uow.session.scalars(select(Order))).one()
    assert (stored.status, stored.tracking_number) == ("shipped", "RA123")


async def test_webhook_bad_payload_is_422_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    shop = await make_shop(client, desk)
    before = await snapshot(runtime)
    for payload, field in (
        (order(total="abc"), "total"),
        (order(placed_at="yesterday"), "placed_at"),
        (order(status="lost"), "status"),
    ):
        body, headers = signed(shop, payload)
        r = await client.post(f"{URL}/webhooks/{shop['id']}", content=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field
    assert await snapshot(runtime) == before


async def test_only_admins_manage_shops(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post(f"{URL}/shops", json={"name": "X"}, headers=desk.olga_h)
    assert r.status_code == 403
    shop = await make_shop(client, desk)
    listed = (await client.get(f"{URL}/shops", headers=desk.admin_h)).json()
    assert [s["id"] for s in listed] == [shop["id"]]
    assert "api_key" not in listed[0] and "webhook_secret" not in listed[0]
