from typing import Any

import httpx

from opora.events.service import Actor, record
from opora.notifications import service
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.notifications.helpers import new_ticket, note, notifications
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

READ = "/api/v1/notifications/read"
COUNT = "/api/v1/notifications/unread-count"


def brief(items: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    return [(n["kind"], n["ticket_id"], n["text"]) for n in items]


async def test_mentions_in_notes_notify_those_who_may_see_the_ticket(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    ticket = await new_ticket(client, desk.admin_h, team_id=desk.support.id)
    text = "@olga посмотри, пожалуйста; @pavel и @Sergey тоже. @anna"
    message_id = await note(client, desk.admin_h, ticket, text)

    [olga] = await notifications(client, desk.olga_h)
    assert olga["kind"] == "mention" and olga["ticket_id"] == ticket and olga["message_id"] == message_id
    assert olga["actor_id"] == desk.admin.id and olga["actor_name"] == "Anna"
    assert olga["text"] == text and olga["read_at"] is None
    assert olga["ticket_subject"] == "Где мой заказ 10452?"
    assert [n["kind"] for n in await notifications(client, desk.supervisor_h)] == ["mention"]
    # Pavel's team does not see the ticket; Anna wrote the note herself.
    assert await notifications(client, desk.pavel_h) == []
    assert await notifications(client, desk.admin_h) == []


async def test_public_replies_and_customer_messages_notify_nobody(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    ticket = await new_ticket(
        client, desk.admin_h, team_id=desk.support.id, message={"text": "@olga hi", "author": "customer"}
    )
    await note(client, desk.admin_h, ticket, "Ответим через @olga скоро", internal=False)
    assert await notifications(client, desk.olga_h) == []


async def test_assignment_notifies_the_new_assignee_unless_self_assigned(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    ticket = await new_ticket(client, desk.admin_h, team_id=desk.support.id)
    r = await client.patch(
        f"/api/v1/tickets/{ticket}", json={"assignee_id": desk.olga.id}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    [assigned] = await notifications(client, desk.olga_h)
    assert (assigned["kind"], assigned["actor_id"], assigned["text"]) == (
        "assigned",
        desk.admin.id,
        "Где мой заказ 10452?",
    )

    other = await new_ticket(client, desk.olga_h, team_id=desk.support.id, subject="Сама возьму")
    r = await client.patch(
        f"/api/v1/tickets/{other}", json={"assignee_id": desk.olga.id}, headers=desk.olga_h
    )
    assert r.status_code == 200
    assert len(await notifications(client, desk.olga_h)) == 1
    # Handing it back to nobody notifies nobody.
    r = await client.patch(f"/api/v1/tickets/{ticket}", json={"assignee_id": None}, headers=desk.admin_h)
    assert r.status_code == 200
    assert len(await notifications(client, desk.olga_h)) == 1


async def test_rule_notifications_reach_listed_agents_who_may_see_the_ticket(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ticket_id = await new_ticket(client, desk.admin_h, team_id=desk.support.id)
    async with runtime.db.uow() as uow:
        ticket = await uow.session.get(Ticket, ticket_id)
        assert ticket is not None
        await record(
            uow,
            ticket_id=ticket_id,
            kind="rule_notification",
            actor=Actor("system"),
            data={"agent_ids": [desk.olga.id, desk.pavel.id, desk.olga.id, "x", 10_000], "text": "VIP ждёт"},
            team_id=ticket.team_id,
        )
    assert brief(await notifications(client, desk.olga_h)) == [("rule", ticket_id, "VIP ждёт")]
    assert await notifications(client, desk.pavel_h) == []


async def test_read_and_unread(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    ticket = await new_ticket(client, desk.admin_h, team_id=desk.support.id)
    for n in range(4):
        await note(client, desk.admin_h, ticket, f"@olga заметка {n}")
    await note(client, desk.admin_h, ticket, "@sergey тебе")
    items = await notifications(client, desk.olga_h)
    assert [n["text"] for n in items] == [f"@olga заметка {n}" for n in (3, 2, 1, 0)]  # newest first
    ids = [n["id"] for n in items]
    sergey_id = (await notifications(client, desk.supervisor_h))[0]["id"]
    assert (await client.get(COUNT, headers=desk.olga_h)).json() == {"unread": 4}

    # Someone else's notification in the list is ignored, not an error.
    r = await client.post(READ, json={"ids": [ids[0], ids[1], sergey_id]}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": sorted([ids[0], ids[1]]), "unread": 2}
    assert (await client.get(COUNT, headers=desk.supervisor_h)).json() == {"unread": 1}
    unread = await notifications(client, desk.olga_h, unread_only="true")
    assert [n["id"] for n in unread] == ids[2:]
    assert all(n["read_at"] for n in (await notifications(client, desk.olga_h))[:2])

    # Keyset pages over the same order.
    first = (await client.get("/api/v1/notifications", params={"limit": 3}, headers=desk.olga_h)).json()
    second = (
        await client.get(
            "/api/v1/notifications", params={"limit": 3, "cursor": first["next_cursor"]}, headers=desk.olga_h
        )
    ).json()
    assert [n["id"] for n in first["items"] + second["items"]] == ids and second["next_cursor"] is None

    async with runtime.db.uow() as uow:
        assert await service.unread_count(uow, desk.olga.id) == 2
        assert [n.id for n in await service.recent(uow, desk.olga.id, limit=2)] == ids[:2]

    r = await client.post(READ, json={"all": True}, headers=desk.olga_h)
    assert r.json() == {"marked": sorted(ids[2:]), "unread": 0}
    assert (await client.get(COUNT, headers=desk.olga_h)).json() == {"unread": 0}
    assert (await client.get(COUNT, headers=desk.supervisor_h)).json() == {"unread": 1}


async def test_bad_read_requests_change_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ticket = await new_ticket(client, desk.admin_h, team_id=desk.support.id)
    await note(client, desk.admin_h, ticket, "@olga")
    before = await snapshot(runtime)
    for body in ({}, {"ids": [1], "all": True}, {"all": False}, {"ids": ["x"]}, {"ids": [], "extra": 1}):
        r = await client.post(READ, json=body, headers=desk.olga_h)
        assert r.status_code == 422, body
    assert (await client.post(READ, json={"all": True})).status_code == 401
    assert await snapshot(runtime) == before


async def test_a_refused_note_creates_no_notification(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ticket = await new_ticket(client, desk.admin_h, team_id=desk.billing.id)
    before = await snapshot(runtime)
    r = await client.post(
        f"/api/v1/tickets/{ticket}/messages", json={"text": "@pavel", "internal": True}, headers=desk.reader_h
    )
    assert r.status_code == 403
    assert await snapshot(runtime) == before
