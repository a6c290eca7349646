from typing import Any

import httpx
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.customers.test_customers_api import URL, create
from tests.customers.test_customers_merge import add_ticket, merge
from tests.shop.test_shop_api import make_shop, order
from tests.support.factories import Desk


async def placement(runtime: Runtime) -> tuple[dict[int, int], dict[int, int | None]]:
    async with runtime.db.uow() as uow:
        tickets = {
            r.id: r.customer_id for r in await uow.session.execute(select(Ticket.id, Ticket.customer_id))
        }
        messages = {
            r.id: r.author_customer_id
            for r in await uow.session.execute(select(Message.id, Message.author_customer_id))
        }
    return tickets, messages


async def test_merge_unmerge_round_trip(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    a = await create(client, desk, name="Иван", identities=[{"kind": "email", "value": "i@x.ru"}])
    b = await create(
        client,
        desk,
        name="",
        language="en",
        custom_fields={"city": "Omsk"},
        identities=[{"kind": "telegram", "value": "42"}],
    )
    await client.patch(f"{URL}/{b['id']}", json={"tags": ["opt"]}, headers=desk.olga_h)
    for customer in (a, b, b):
        await add_ticket(runtime, customer["id"], team_id=desk.support.id)
    shop = await make_shop(client, desk)
    await client.post(
        "/api/v1/shop/orders",
        json=order(customer={"external_id": "x", "name": ""}),
        headers={"X-Opora-Shop-Key": shop["api_key"]},
    )
    tickets_before, messages_before = await placement(runtime)
    # The shop created a third customer; merge it into b first so that unmerging b restores a chain.
    shop_customer = max(c["id"] for c in (await client.get(URL, headers=desk.olga_h)).json()["items"])
    assert (await merge(client, desk, b["id"], shop_customer)).status_code == 200
    b_now = (await client.get(f"{URL}/{b['id']}", headers=desk.olga_h)).json()
    assert b_now["orders_count"] == 1

    assert (await merge(client, desk, a["id"], b["id"])).status_code == 200
    merged = (await client.get(f"{URL}/{a['id']}", headers=desk.olga_h)).json()
    assert (merged["language"], merged["custom_fields"], merged["tags"], merged["orders_count"]) == (
        "en",
        {"city": "Omsk"},
        ["opt"],
        1,
    )

    r = await client.post(
        f"{URL}/{a['id']}/unmerge", json={"merged_customer_id": b["id"]}, headers=desk.olga_h
    )
    assert r.status_code == 200, r.text
    restored = r.json()
    assert restored["id"] == b["id"] and restored["merged_into_id"] is None
    assert [(i["kind"], i["value"]) for i in restored["identities"]] == [
        ("telegram", "42"),
        ("shop", f"{shop['id']}:x"),  # came with the earlier merge into b, so it stays with b
    ]
    assert (restored["tags"], restored["orders_count"]) == (["opt"], 1)
    survivor = (await client.get(f"{URL}/{a['id']}", headers=desk.olga_h)).json()
    assert (survivor["language"], survivor["custom_fields"], survivor["tags"], survivor["orders_count"]) == (
        None,
        {},
        [],
        0,
    )
    assert [(i["kind"], i["value"]) for i in survivor["identities"]] == [("email", "i@x.ru")]
    chained = (await client.get(f"{URL}/{shop_customer}", headers=desk.olga_h)).json()
    assert chained["merged_into_id"] == b["id"]  # the earlier merge into b holds again

    tickets_after, messages_after = await placement(runtime)
    assert tickets_after == tickets_before and messages_after == messages_before
    async with runtime.db.uow() as uow:
        kinds = [
            e.kind for e in (await uow.session.scalars(select(TicketEvent).order_by(TicketEvent.id))).all()
        ]
    assert kinds == ["customer_merged", "customer_merged", "customer_unmerged", "customer_unmerged"]

    again = await client.post(
        f"{URL}/{a['id']}/unmerge", json={"merged_customer_id": b["id"]}, headers=desk.olga_h
    )
    assert again.status_code == 409


async def test_suggestions_and_dismissal(client: httpx.AsyncClient, desk: Desk) -> None:
    me = await create(
        client,
        desk,
        name="Анна Ким",
        identities=[
            {"kind": "phone", "value": "+79123456789"},
            {"kind": "email", "value": "anna.kim@mail.ru"},
        ],
    )
    wa = await create(
        client, desk, name="Анна  ким", identities=[{"kind": "whatsapp", "value": "79123456789"}]
    )
    mail = await create(
        client, desk, name="A.K.", identities=[{"kind": "email", "value": "anna.kim@gmail.com"}]
    )
    await create(client, desk, name="Анна Ким")  # same name alone is no reason
    await create(client, desk, name="X", identities=[{"kind": "email", "value": "info@gmail.com"}])
    r = await client.get(f"{URL}/{me['id']}/merge-suggestions", headers=desk.olga_h)
    assert r.status_code == 200
    got: list[tuple[Any, ...]] = [(s["customer"]["id"], s["reasons"]) for s in r.json()]
    assert got == [(wa["id"], ["phone_digits", "same_name"]), (mail["id"], ["email_local_part"])]
    d = await client.post(
        f"{URL}/{me['id']}/merge-suggestions/dismiss",
        json={"other_customer_id": wa["id"]},
        headers=desk.olga_h,
    )
    assert d.status_code == 204
    r = await client.get(f"{URL}/{wa['id']}/merge-suggestions", headers=desk.olga_h)
    assert r.json() == []  # dismissed both ways
    # nothing was merged automatically
    assert (await client.get(f"{URL}/{wa['id']}", headers=desk.olga_h)).json()["merged_into_id"] is None


async def test_profile_timeline_notes_and_access_log(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    c = await create(client, desk, name="Олег", identities=[{"kind": "email", "value": "o@x.ru"}])
    r = await client.patch(
        f"{URL}/{c['id']}",
        json={"timezone": "Asia/Novosibirsk", "segment": "vip", "tags": ["Опт", "опт", "b2b"]},
        headers=desk.olga_h,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["timezone"], r.json()["tags"]) == ("Asia/Novosibirsk", ["b2b", "опт"])
    bad = await client.patch(f"{URL}/{c['id']}", json={"timezone": "Mars/Olympus"}, headers=desk.olga_h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "timezone"

    await add_ticket(runtime, c["id"], team_id=desk.support.id)
    await add_ticket(runtime, c["id"], team_id=desk.billing.id)
    note = await client.post(f"{URL}/{c['id']}/notes", json={"text": "Любит звонки"}, headers=desk.olga_h)
    assert note.status_code == 201
    assert (
        await client.delete(f"{URL}/{c['id']}/notes/{note.json()['id']}", headers=desk.pavel_h)
    ).status_code == 403

    profile = (await client.get(f"{URL}/{c['id']}/profile", headers=desk.olga_h)).json()
    assert profile["lifetime"]["tickets"] == 2 and profile["lifetime"]["csat_average"] is None
    assert [n["text"] for n in profile["notes"]] == ["Любит звонки"]
    timeline = (await client.get(f"{URL}/{c['id']}/timeline", headers=desk.olga_h)).json()
    assert [i["kind"] for i in timeline["items"]] == ["ticket"] and timeline["hidden_tickets"] == 1

    log = (
        await client.get("/api/v1/privacy/access-log", params={"customer_id": c["id"]}, headers=desk.admin_h)
    ).json()
    assert [(e["agent_id"], e["what"]) for e in log] == [
        (desk.olga.id, "timeline"),
        (desk.olga.id, "profile"),
    ]
    assert (await client.get("/api/v1/privacy/access-log", headers=desk.olga_h)).status_code == 403
