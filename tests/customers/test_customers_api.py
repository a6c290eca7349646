from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.customers.models import Customer, CustomerIdentity
from opora.runtime import Runtime
from tests.support.factories import Desk

URL = "/api/v1/customers"


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every customer and identity column: a refused call must leave all of them as they were."""
    async with runtime.db.uow() as uow:
        customers = (await uow.session.scalars(select(Customer).order_by(Customer.id))).all()
        identities = (await uow.session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.id))).all()
        return {
            "customers": [
                (c.id, c.name, c.language, c.segment, c.custom_fields, c.merged_into_id, c.updated_at)
                for c in customers
            ],
            "identities": [(i.id, i.customer_id, i.kind, i.value) for i in identities],
        }


async def create(client: httpx.AsyncClient, desk: Desk, **body: Any) -> dict[str, Any]:
    r = await client.post(URL, json=body, headers=desk.olga_h)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def error(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


async def test_create_normalises_identities_and_reads_back(client: httpx.AsyncClient, desk: Desk) -> None:
    made = await create(
        client,
        desk,
        name="Иван Петров",
        language="ru",
        segment="vip",
        custom_fields={"city": "Омск", "orders": 3},
        identities=[
            {"kind": "email", "value": " Ivan@Shop.RU "},
            {"kind": "phone", "value": "8 (912) 345-67-89"},
            {"kind": "telegram", "value": " 123456 "},
        ],
    )
    assert [(i["kind"], i["value"]) for i in made["identities"]] == [
        ("email", "ivan@shop.ru"),
        ("phone", "+79123456789"),
        ("telegram", "123456"),
    ]
    assert made["merged_into_id"] is None
    r = await client.get(f"{URL}/{made['id']}", headers=desk.reader_h)
    assert r.status_code == 200
    assert r.json() == made


async def test_customers_are_visible_to_every_agent(client: httpx.AsyncClient, desk: Desk) -> None:
    made = await create(client, desk, name="Anyone", identities=[{"kind": "vk", "value": "id1"}])
    for headers in (desk.pavel_h, desk.reader_h, desk.supervisor_h, desk.admin_h):
        assert (await client.get(f"{URL}/{made['id']}", headers=headers)).status_code == 200
    assert (await client.get(f"{URL}/{made['id']}")).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "A", "nickname": "x"}, 422, "nickname"),
        ({"name": 5}, 422, "name"),
        ({"name": "x" * 201}, 422, "name"),
        ({"name": "A", "language": "de"}, 422, "language"),
        ({"name": "A", "identities": "ivan@shop.ru"}, 422, "identities"),
        ({"name": "A", "identities": [{"kind": "fax", "value": "1"}]}, 422, "identities.0.kind"),
        ({"name": "A", "identities": [{"kind": "email", "value": "a@b.ru", "primary": True}]}, 422, None),
        ({"name": "A", "custom_fields": {"nested": {"a": 1}}}, 422, None),
        ({"name": "A", "custom_fields": {f"k{i}": i for i in range(51)}}, 422, "custom_fields"),
        ({"name": "A", "identities": [{"kind": "phone", "value": "12-34"}]}, 422, "identities.0.value"),
        ({"name": "A", "identities": [{"kind": "email", "value": "nope"}]}, 422, "identities.0.value"),
        ({"name": " "}, 422, "name"),
        ({}, 422, "name"),
        (
            {"identities": [{"kind": "email", "value": "a@b.ru"}, {"kind": "email", "value": "A@B.ru"}]},
            422,
            "identities.1.value",
        ),
    ],
)
async def test_create_refuses_bad_input_and_changes_nothing(
    client: httpx.AsyncClient,
    desk: Desk,
    runtime: Runtime,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    before = await snapshot(runtime)
    r = await client.post(URL, json=body, headers=desk.olga_h)
    assert r.status_code == status, r.text
    err = error(r)
    fields = [f["field"] for f in err.get("fields", [])] + [err.get("field")]
    if field is not None:
        assert any(f is not None and f.startswith(field) for f in fields), err
    assert await snapshot(runtime) == before


async def test_identity_owned_by_another_customer_is_409(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    first = await create(
        client, desk, name="First", identities=[{"kind": "phone", "value": "+7 912 345 67 89"}]
    )
    before = await snapshot(runtime)
    r = await client.post(
        URL,
        json={"name": "Second", "identities": [{"kind": "phone", "value": "8 912 345 67 89"}]},
        headers=desk.olga_h,
    )
    assert r.status_code == 409
    assert error(r)["code"] == "conflict"
    assert error(r)["field"] == "identities.0.value"
    assert error(r)["customer_id"] == first["id"]
    assert "already belongs to customer" in error(r)["message"]
    assert await snapshot(runtime) == before


async def test_read_only_agent_cannot_write(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = await create(client, desk, name="Target", identities=[{"kind": "email", "value": "t@shop.ru"}])
    other = await create(client, desk, name="Other")
    identity_id = made["identities"][0]["id"]
    before = await snapshot(runtime)
    calls = [
        client.post(URL, json={"name": "New"}, headers=desk.reader_h),
        client.patch(f"{URL}/{made['id']}", json={"name": "X"}, headers=desk.reader_h),
        client.post(
            f"{URL}/{made['id']}/identities", json={"kind": "vk", "value": "1"}, headers=desk.reader_h
        ),
        client.delete(f"{URL}/{made['id']}/identities/{identity_id}", headers=desk.reader_h),
        client.post(
            f"{URL}/{made['id']}/merge", json={"merged_customer_id": other["id"]}, headers=desk.reader_h
        ),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 403, r.text
        assert error(r)["code"] == "forbidden"
    assert await snapshot(runtime) == before


async def test_unknown_ids_are_404(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = await create(client, desk, name="Known")
    before = await snapshot(runtime)
    assert (await client.get(f"{URL}/999999", headers=desk.olga_h)).status_code == 404
    assert (await client.patch(f"{URL}/999999", json={"name": "X"}, headers=desk.olga_h)).status_code == 404
    r = await client.post(f"{URL}/999999/identities", json={"kind": "vk", "value": "1"}, headers=desk.olga_h)
    assert r.status_code == 404
    assert (
        await client.delete(f"{URL}/{made['id']}/identities/999999", headers=desk.olga_h)
    ).status_code == 404
    r = await client.post(
        f"{URL}/{made['id']}/merge", json={"merged_customer_id": 999999}, headers=desk.olga_h
    )
    assert r.status_code == 404
    assert error(r)["field"] == "merged_customer_id"
    r = await client.post(f"{URL}/999999/merge", json={"merged_customer_id": made["id"]}, headers=desk.olga_h)
    assert r.status_code == 404
    # Ids beyond BIGINT are refused by validation instead of failing in the driver.
    assert (await client.get(f"{URL}/{2**64}", headers=desk.olga_h)).status_code == 422
    assert (await client.get(f"{URL}/abc", headers=desk.olga_h)).status_code == 422
    assert await snapshot(runtime) == before


async def test_update_changes_only_given_fields_and_merges_custom_fields(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    made = await create(client, desk, name="Old", language="ru", custom_fields={"city": "Омск", "orders": 3})
    r = await client.patch(
        f"{URL}/{made['id']}",
        json={"segment": "vip", "custom_fields": {"orders": 4, "city": None, "vip_since": "2024"}},
        headers=desk.olga_h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["language"], body["segment"]) == ("Old", "ru", "vip")
    assert body["custom_fields"] == {"orders": 4, "vip_since": "2024"}
    assert body["updated_at"] >= made["updated_at"]
    r = await client.patch(
        f"{URL}/{made['id']}", json={"language": None, "segment": None}, headers=desk.olga_h
    )
    assert (r.json()["language"], r.json()["segment"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"custom_fields": None}, "custom_fields"),
        ({"name": "x" * 201}, "name"),
        ({"language": "fr"}, "language"),
        ({"merged_into_id": 1}, "merged_into_id"),
        ({"identities": []}, "identities"),
        ({"segment": ""}, "segment"),
    ],
)
async def test_update_refuses_bad_input_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    made = await create(client, desk, name="Keep", custom_fields={"a": 1})
    before = await snapshot(runtime)
    r = await client.patch(f"{URL}/{made['id']}", json=body, headers=desk.olga_h)
    assert r.status_code == 422, r.text
    err = error(r)
    assert field in [f["field"] for f in err.get("fields", [])] + [err.get("field")]
    assert await snapshot(runtime) == before


async def test_custom_fields_limit_applies_after_merge(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    made = await create(client, desk, name="Many", custom_fields={f"a{i}": i for i in range(30)})
    before = await snapshot(runtime)
    r = await client.patch(
        f"{URL}/{made['id']}", json={"custom_fields": {f"b{i}": i for i in range(30)}}, headers=desk.olga_h
    )
    assert r.status_code == 422
    assert error(r)["field"] == "custom_fields"
    assert await snapshot(runtime) == before


async def test_add_and_remove_identities(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = await create(client, desk, name="Ivan")
    other = await create(client, desk, name="Other", identities=[{"kind": "viber", "value": "abc="}])
    r = await client.post(
        f"{URL}/{made['id']}/identities",
        json={"kind": "phone", "value": "+7 912 345 67 89"},
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    assert [(i["kind"], i["value"]) for i in r.json()["identities"]] == [("phone", "+79123456789")]
    assert r.json()["updated_at"] > made["updated_at"]
    # The same number written another way is the same identity: nothing to add.
    again = await client.post(
        f"{URL}/{made['id']}/identities", json={"kind": "phone", "value": "89123456789"}, headers=desk.olga_h
    )
    assert again.status_code == 200
    assert len(again.json()["identities"]) == 1

    before = await snapshot(runtime)
    taken = await client.post(
        f"{URL}/{made['id']}/identities", json={"kind": "viber", "value": " abc= "}, headers=desk.olga_h
    )
    assert taken.status_code == 409
    assert error(taken)["customer_id"] == other["id"]
    bad = await client.post(
        f"{URL}/{made['id']}/identities", json={"kind": "phone", "value": "call me"}, headers=desk.olga_h
    )
    assert bad.status_code == 422
    assert error(bad)["field"] == "value"
    extra = await client.post(
        f"{URL}/{made['id']}/identities", json={"kind": "vk", "value": "1", "x": 1}, headers=desk.olga_h
    )
    assert extra.status_code == 422
    # Another customer's identity cannot be removed through this customer.
    foreign = other["identities"][0]["id"]
    assert (
        await client.delete(f"{URL}/{made['id']}/identities/{foreign}", headers=desk.olga_h)
    ).status_code == 404
    assert await snapshot(runtime) == before

    identity_id = r.json()["identities"][0]["id"]
    removed = await client.delete(f"{URL}/{made['id']}/identities/{identity_id}", headers=desk.olga_h)
    assert removed.status_code == 200
    assert removed.json()["identities"] == []
    # Freed, the number can now go to the other customer.
    moved = await client.post(
        f"{URL}/{other['id']}/identities", json={"kind": "phone", "value": "89123456789"}, headers=desk.olga_h
    )
    assert moved.status_code == 201


async def test_search_by_text_identity_and_updated_since(client: httpx.AsyncClient, desk: Desk) -> None:
    ivan = await create(
        client, desk, name="Иван Петров", identities=[{"kind": "phone", "value": "8 (912) 345-67-89"}]
    )
    maria = await create(client, desk, name="Maria", identities=[{"kind": "email", "value": "maria@shop.ru"}])
    percent = await create(client, desk, name="100% Cotton")

    async def ids(**params: Any) -> list[int]:
        r = await client.get(URL, params=params, headers=desk.reader_h)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids(q="иван") == [ivan["id"]]  # Cyrillic, any case, on SQLite too
    assert await ids(q="ПЕТРОВ") == [ivan["id"]]
    assert await ids(q="MARIA@SHOP") == [maria["id"]]
    assert await ids(q="912 345") == [ivan["id"]]  # phone digits, however written
    assert await ids(q="%") == [percent["id"]]  # LIKE wildcards are literal
    assert await ids(q="nobody") == []
    assert await ids(identity_kind="phone", identity_value="+7 912 345 67 89") == [ivan["id"]]
    assert await ids(identity_kind="email", identity_value="MARIA@shop.ru") == [maria["id"]]
    assert await ids() == [percent["id"], maria["id"], ivan["id"]]  # latest change first
    assert await ids(updated_since=ivan["updated_at"]) == [ivan["id"], maria["id"], percent["id"]]
    assert await ids(updated_since=percent["updated_at"]) == [percent["id"]]

    refused: list[tuple[dict[str, Any], str]] = [
        ({"identity_kind": "phone"}, "identity_value"),
        ({"identity_value": "x"}, "identity_kind"),
        ({"identity_kind": "phone", "identity_value": "abc"}, "identity.value"),
        ({"identity_kind": "fax", "identity_value": "1"}, "identity_kind"),
        ({"updated_since": "2024-01-01T00:00:00"}, "updated_since"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
    ]
    for params, field in refused:
        r = await client.get(URL, params=params, headers=desk.olga_h)
        assert r.status_code == 422, (params, r.text)
        err = error(r)
        assert field in [f["field"] for f in err.get("fields", [])] + [err.get("field")], (params, err)


@pytest.mark.parametrize("since", [False, True])
async def test_pagination_walks_every_customer_once(
    client: httpx.AsyncClient, desk: Desk, since: bool
) -> None:
    made = [await create(client, desk, name=f"Customer {n}") for n in range(7)]
    params: dict[str, Any] = {"limit": 3}
    if since:
        params["updated_since"] = made[0]["updated_at"]
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        r = await client.get(
            URL, params={**params, **({"cursor": cursor} if cursor else {})}, headers=desk.olga_h
        )
        assert r.status_code == 200, r.text
        seen += [c["id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    expected = [c["id"] for c in made]
    assert seen == (expected if since else expected[::-1])
