"""Incidents: linking by hand and by rule, one update to every linked customer, resolving."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.incidents import service
from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.surveys.support import drain, event_kinds, make_channel, make_ticket, sending_channel

API = "/api/v1/incidents"


@pytest.fixture(autouse=True)
def _channel_type() -> Iterator[None]:
    with sending_channel():
        yield


async def make_incident(client: httpx.AsyncClient, desk: Desk, **extra: Any) -> dict[str, Any]:
    body = {"title": "Не проходят платежи", "status_text": "Платёжный шлюз недоступен, чиним.", **extra}
    r = await client.post(API, json=body, headers=desk.supervisor_h)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def linked_ids(client: httpx.AsyncClient, desk: Desk, incident_id: int) -> list[int]:
    r = await client.get(f"{API}/{incident_id}/tickets", headers=desk.supervisor_h)
    assert r.status_code == 200, r.text
    return [t["ticket_id"] for t in r.json()]


async def public_out(runtime: Runtime, ticket_id: int) -> list[Message]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(
            select(Message)
            .where(Message.ticket_id == ticket_id, Message.direction == "out")
            .order_by(Message.id)
        )
        return list(rows)


async def test_link_by_hand_and_only_supervisors_manage(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    incident = await make_incident(client, desk)
    a = await make_ticket(runtime, None, email="a@x.ru")
    b = await make_ticket(runtime, None, email="b@x.ru")
    r = await client.post(
        f"{API}/{incident['id']}/tickets", json={"ticket_ids": [a, b]}, headers=desk.supervisor_h
    )
    assert r.status_code == 200 and [t["linked_by"] for t in r.json()] == ["hand", "hand"]
    # Linking again is harmless; one event per ticket.
    await client.post(f"{API}/{incident['id']}/tickets", json={"ticket_ids": [a]}, headers=desk.supervisor_h)
    assert (await event_kinds(runtime, a)).count("incident_linked") == 1
    before = await snapshot(runtime)
    assert (await client.post(API, json={"title": "x"}, headers=desk.olga_h)).status_code == 403
    assert (
        await client.post(f"{API}/{incident['id']}/tickets", json={"ticket_ids": [a]}, headers=desk.olga_h)
    ).status_code == 403
    assert (
        await client.post(f"{API}/{incident['id']}/updates", json={"text": "x"}, headers=desk.olga_h)
    ).status_code == 403
    missing = await client.post(
        f"{API}/{incident['id']}/tickets", json={"ticket_ids": [a, 999]}, headers=desk.supervisor_h
    )
    assert missing.status_code == 422
    assert await snapshot(runtime) == before
    # Every agent may read the incident and its status text.
    got = await client.get(f"{API}/{incident['id']}", headers=desk.olga_h)
    assert got.status_code == 200 and got.json()["linked_tickets"] == 2
    assert (
        await client.delete(f"{API}/{incident['id']}/tickets/{b}", headers=desk.supervisor_h)
    ).status_code == 204
    assert await linked_ids(client, desk, incident["id"]) == [a]
    assert "incident_unlinked" in await event_kinds(runtime, b)


async def test_link_by_rule_existing_and_new_tickets_in_the_window(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    old_payment = await make_ticket(runtime, None, topic="оплата", email="a@x.ru")
    delivery = await make_ticket(runtime, None, topic="доставка", email="b@x.ru")
    incident = await make_incident(
        client, desk, rule_topic="Оплата", rule_from=(utcnow() - timedelta(hours=1)).isoformat()
    )
    assert await linked_ids(client, desk, incident["id"]) == [old_payment]
    new_payment = await make_ticket(runtime, None, topic="оплата", email="c@x.ru")
    # A ticket whose topic is set later joins as well.
    retopic = await make_ticket(runtime, None, email="d@x.ru")
    r = await client.patch(f"/api/v1/tickets/{retopic}", json={"topic": "оплата"}, headers=desk.supervisor_h)
    assert r.status_code == 200
    assert await linked_ids(client, desk, incident["id"]) == [old_payment, new_payment, retopic]
    assert delivery not in await linked_ids(client, desk, incident["id"])
    # Outside the window (it ended): not linked.
    r = await client.patch(
        f"{API}/{incident['id']}",
        json={"rule_until": (utcnow() - timedelta(seconds=1)).isoformat()},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 200
    late = await make_ticket(runtime, None, topic="оплата", email="e@x.ru")
    assert late not in await linked_ids(client, desk, incident["id"])
    bad = await client.patch(
        f"{API}/{incident['id']}",
        json={"rule_until": (utcnow() - timedelta(days=2)).isoformat()},
        headers=desk.supervisor_h,
    )
    assert bad.status_code == 422


async def test_an_update_is_queued_once_per_linked_ticket_on_its_own_channel(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    channel_id = await make_channel(runtime)
    chat = [
        await make_ticket(runtime, channel_id, email=f"c{i}@x.ru", name=f"Клиент{i} Тест") for i in range(3)
    ]
    api = await make_ticket(runtime, None, email="api@x.ru")
    closed = await make_ticket(runtime, channel_id, email="closed@x.ru")
    async with runtime.db.uow() as uow:
        ticket = await uow.session.get(Ticket, closed)
        assert ticket is not None
        ticket.status = "closed"
    incident = await make_incident(client, desk)
    await client.post(
        f"{API}/{incident['id']}/tickets",
        json={"ticket_ids": [*chat, api, closed]},
        headers=desk.supervisor_h,
    )
    r = await client.post(
        f"{API}/{incident['id']}/updates",
        json={"text": "{{customer.first_name}}, мы нашли причину сбоя и чиним."},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 201 and r.json()["tickets_queued"] == 4
    async with runtime.db.uow() as uow:
        jobs = list(
            await uow.session.scalars(select(Job).where(Job.task == service.POST_TASK).order_by(Job.id))
        )
    assert sorted(j.payload["ticket_id"] for j in jobs) == sorted([*chat, api])
    assert await public_out(runtime, chat[0]) == []  # nothing is written inside the request
    await drain(runtime)
    for i, ticket_id in enumerate(chat):
        [message] = await public_out(runtime, ticket_id)
        assert message.text == f"Клиент{i}, мы нашли причину сбоя и чиним."
        assert message.channel_id == channel_id and message.delivery_status == "sent"
        assert message.metadata_["incident_id"] == incident["id"]
    [api_message] = await public_out(runtime, api)
    assert api_message.delivery_status == "not_sent"  # the shop's integration reads it from the API
    assert await public_out(runtime, closed) == []
    bad = await client.post(
        f"{API}/{incident['id']}/updates", json={"text": "{{nope}}"}, headers=desk.supervisor_h
    )
    assert bad.status_code == 422


async def test_resolving_solves_every_linked_ticket_with_the_final_message(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    channel_id = await make_channel(runtime)
    tickets = [await make_ticket(runtime, channel_id, email=f"c{i}@x.ru") for i in range(2)]
    incident = await make_incident(client, desk)
    await client.post(
        f"{API}/{incident['id']}/tickets", json={"ticket_ids": tickets}, headers=desk.supervisor_h
    )
    r = await client.post(
        f"{API}/{incident['id']}/resolve",
        json={"text": "Платежи снова работают. Спасибо за терпение!"},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 201 and r.json()["is_final"] is True
    got = await client.get(f"{API}/{incident['id']}", headers=desk.supervisor_h)
    assert got.json()["status"] == "resolved" and got.json()["resolved_at"]
    await drain(runtime)
    async with runtime.db.uow() as uow:
        statuses = [(await uow.session.get(Ticket, t)).status for t in tickets]  # type: ignore[union-attr]
    assert statuses == ["solved", "solved"]
    for ticket_id in tickets:
        texts = [m.text for m in await public_out(runtime, ticket_id)]
        assert texts[0] == "Платежи снова работают. Спасибо за терпение!"
    # A resolved incident takes no more updates or links.
    before = await snapshot(runtime)
    assert (
        await client.post(f"{API}/{incident['id']}/updates", json={"text": "x"}, headers=desk.supervisor_h)
    ).status_code == 409
    assert (
        await client.post(f"{API}/{incident['id']}/resolve", json={"text": "x"}, headers=desk.supervisor_h)
    ).status_code == 409
    assert await snapshot(runtime) == before
