from typing import Any

import httpx
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.customers.test_customers_api import URL, create, error, snapshot
from tests.support.factories import Desk


async def add_ticket(runtime: Runtime, customer_id: int, *, team_id: int | None = None) -> int:
    async with runtime.db.uow() as uow:
        ticket = Ticket(subject="Где мой заказ?", customer_id=customer_id, team_id=team_id)
        uow.session.add(ticket)
        await uow.session.flush()
        uow.session.add(
            Message(
                ticket_id=ticket.id,
                direction="in",
                author_type="customer",
                author_customer_id=customer_id,
                text="Здравствуйте",
            )
        )
        return ticket.id


async def merge(client: httpx.AsyncClient, desk: Desk, survivor: int, merged: int) -> httpx.Response:
    return await client.post(
        f"{URL}/{survivor}/merge", json={"merged_customer_id": merged}, headers=desk.olga_h
    )


async def test_merge_moves_identities_tickets_and_messages(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    survivor = await create(
        client,
        desk,
        name="Иван",
        custom_fields={"city": "Омск"},
        identities=[{"kind": "email", "value": "i@x.ru"}],
    )
    merged = await create(
        client,
        desk,
        name="Ivan (Telegram)",
        language="en",
        segment="vip",
        custom_fields={"city": "Tomsk", "orders": 2},
        identities=[{"kind": "telegram", "value": "42"}, {"kind": "phone", "value": "89123456789"}],
    )
    kept = await add_ticket(runtime, survivor["id"])
    moved = [await add_ticket(runtime, merged["id"], team_id=desk.support.id) for _ in range(2)]

    r = await merge(client, desk, survivor["id"], merged["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == survivor["id"]
    assert body["name"] == "Иван"  # the survivor's own profile wins ...
    assert (body["language"], body["segment"]) == ("en", "vip")  # ... and fills its blanks
    assert body["custom_fields"] == {"city": "Омск", "orders": 2}
    assert sorted((i["kind"], i["value"]) for i in body["identities"]) == [
        ("email", "i@x.ru"),
        ("phone", "+79123456789"),
        ("telegram", "42"),
    ]

    gone = (await client.get(f"{URL}/{merged['id']}", headers=desk.olga_h)).json()
    assert gone["merged_into_id"] == survivor["id"]
    assert gone["identities"] == []
    listed = (await client.get(URL, headers=desk.olga_h)).json()["items"]
    assert [c["id"] for c in listed] == [survivor["id"]]  # merged records are hidden from lists
    with_merged = await client.get(URL, params={"include_merged": "true"}, headers=desk.olga_h)
    assert {c["id"] for c in with_merged.json()["items"]} == {survivor["id"], merged["id"]}

    async with runtime.db.uow() as uow:
        owners = {
            row.id: row.customer_id
            for row in await uow.session.execute(select(Ticket.id, Ticket.customer_id))
        }
        authors = set((await uow.session.scalars(select(Message.author_customer_id))).all())
        events = (await uow.session.scalars(select(TicketEvent).order_by(TicketEvent.id))).all()
    assert owners == {kept: survivor["id"], moved[0]: survivor["id"], moved[1]: survivor["id"]}
    assert authors == {survivor["id"]}
    # The survivor took the merged record's manual segment: its open ticket hears of it.
    assert [(e.ticket_id, e.kind, e.actor_type, e.actor_id) for e in events] == [
        (kept, "customer_segment_changed", "agent", desk.olga.id),
        *((ticket_id, "customer_merged", "agent", desk.olga.id) for ticket_id in moved),
    ]
    assert events[0].data["segment"] == {"old": None, "new": "vip"}
    assert events[1].data == {"customer_id": {"old": merged["id"], "new": survivor["id"]}}


async def test_chains_stay_one_hop(client: httpx.AsyncClient, desk: Desk) -> None:
    a, b, c = [await create(client, desk, name=n) for n in ("A", "B", "C")]
    assert (await merge(client, desk, b["id"], a["id"])).status_code == 200
    assert (await merge(client, desk, c["id"], b["id"])).status_code == 200
    first = (await client.get(f"{URL}/{a['id']}", headers=desk.olga_h)).json()
    assert first["merged_into_id"] == c["id"]


async def test_refused_merges_change_nothing(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    a, b, c = [await create(client, desk, name=n) for n in ("A", "B", "C")]
    assert (await merge(client, desk, a["id"], b["id"])).status_code == 200
    await add_ticket(runtime, c["id"])
    before = await snapshot(runtime)
    cases: list[tuple[Any, int, str | None]] = [
        (merge(client, desk, c["id"], c["id"]), 422, "merged_customer_id"),
        (merge(client, desk, c["id"], b["id"]), 409, "merged_customer_id"),  # b is already merged
        (merge(client, desk, b["id"], c["id"]), 409, None),  # into a merged record
        (
            client.post(f"{URL}/{a['id']}/merge", json={"merged_customer_id": "x"}, headers=desk.olga_h),
            422,
            None,
        ),
        (
            client.post(f"{URL}/{a['id']}/merge", json={"merged_customer_id": 0}, headers=desk.olga_h),
            422,
            None,
        ),
        (client.post(f"{URL}/{a['id']}/merge", json={}, headers=desk.olga_h), 422, None),
        (
            client.post(f"{URL}/{a['id']}/merge", json={"customer_id": c["id"]}, headers=desk.olga_h),
            422,
            None,
        ),
    ]
    for call, status, field in cases:
        r = await call
        assert r.status_code == status, r.text
        if field:
            assert error(r)["field"] == field
    assert await snapshot(runtime) == before
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(TicketEvent))).all() == []


async def test_merged_customer_cannot_be_edited(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    a, b = [await create(client, desk, name=n) for n in ("A", "B")]
    assert (await merge(client, desk, a["id"], b["id"])).status_code == 200
    before = await snapshot(runtime)
    r = await client.patch(f"{URL}/{b['id']}", json={"name": "Z"}, headers=desk.olga_h)
    assert r.status_code == 409
    assert error(r)["merged_into_id"] == a["id"]
    r = await client.post(
        f"{URL}/{b['id']}/identities", json={"kind": "vk", "value": "1"}, headers=desk.olga_h
    )
    assert r.status_code == 409
    assert await snapshot(runtime) == before
