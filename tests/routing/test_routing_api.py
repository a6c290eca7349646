"""Routing through the API: settings, presence, auto-assignment, freeing capacity, queue, escalation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from opora.jobs.models import Job
from opora.routing import service
from opora.routing.models import PresenceChange
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.support.factories import Desk, bearer_for, make_agent
from tests.support.snapshot import snapshot


async def ticket(client: httpx.AsyncClient, desk: Desk, team_id: int | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": extra.pop("subject", "Где мой заказ?"),
        "customer": {"identity": {"kind": "email", "value": extra.pop("email", "irina@mail.example")}},
        "message": {"text": "Здравствуйте!", "author": "customer"},
        "team_id": team_id,
        **extra,
    }
    r = await client.post("/api/v1/tickets", json=body, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def current(client: httpx.AsyncClient, desk: Desk, ticket_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tickets/{ticket_id}", headers=desk.admin_h)
    assert r.status_code == 200
    return dict(r.json())


async def events(client: httpx.AsyncClient, desk: Desk, ticket_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/tickets/{ticket_id}/events", headers=desk.admin_h)
    return list(r.json()["items"])


async def auto(client: httpx.AsyncClient, desk: Desk, team_id: int, **settings: Any) -> None:
    r = await client.patch(
        f"/api/v1/routing/teams/{team_id}",
        json={"policy": "least_loaded", **settings},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 200, r.text


async def online(client: httpx.AsyncClient, headers: dict[str, str], presence: str = "online") -> Any:
    r = await client.put("/api/v1/me/presence", json={"presence": presence}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def second_support_agent(runtime: Runtime, desk: Desk) -> tuple[int, dict[str, str]]:
    ivan = await make_agent(runtime, email="ivan@shop.test", name="Ivan", team_ids=[desk.support.id])
    return ivan.id, await bearer_for(runtime, ivan)


async def test_team_settings_default_to_manual_and_refuse_bad_input(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    url = f"/api/v1/routing/teams/{desk.support.id}"
    got = (await client.get(url, headers=desk.supervisor_h)).json()
    assert got["policy"] == "manual" and got["line"] == "first" and got["escalation_team_id"] is None
    before = await snapshot(runtime)
    bad = [
        {"policy": "fastest"},
        {"policy": None},
        {"escalation_team_id": desk.support.id},
        {"escalation_team_id": 999_999},
        {"skill_fallback_seconds": -1},
        {"channel_weights": {"Chat!": 1}},
        {"channel_weights": {"chat": 0}},
        {"line": "third"},
        {"colour": "red"},
    ]
    for body in bad:
        r = await client.patch(url, json=body, headers=desk.supervisor_h)
        assert r.status_code == 422, (body, r.text)
        assert (
            r.json()["error"]["code"] in {"invalid", "validation_error", "invalid_input"} or r.json()["error"]
        )
    assert (await client.patch(url, json={"policy": "round_robin"}, headers=desk.olga_h)).status_code == 403
    assert (
        await client.patch("/api/v1/routing/teams/999999", json={}, headers=desk.admin_h)
    ).status_code == 404
    assert await snapshot(runtime) == before
    r = await client.patch(
        url,
        json={
            "policy": "round_robin",
            "line": "first",
            "escalation_team_id": desk.billing.id,
            "skill_fallback_seconds": 30,
            "channel_weights": {"Chat": 3, "email": 1},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["channel_weights"] == {"chat": 3.0, "email": 1.0}
    assert (await client.get(url, headers=desk.supervisor_h)).json()["escalation_team_id"] == desk.billing.id
    cleared = await client.patch(url, json={"escalation_team_id": None}, headers=desk.admin_h)
    assert cleared.json()["escalation_team_id"] is None and cleared.json()["policy"] == "round_robin"
    listed = (await client.get("/api/v1/routing/teams", headers=desk.supervisor_h)).json()
    assert [t["team_id"] for t in listed] == [desk.support.id, desk.billing.id]


async def test_agent_settings_validate_and_show_load(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    url = f"/api/v1/routing/agents/{desk.olga.id}"
    got = (await client.get(url, headers=desk.olga_h)).json()
    assert got["capacity"] == {} and got["default_capacity"] == 10 and got["load"] == {}
    assert (await client.get(url, headers=desk.pavel_h)).status_code == 403
    before = await snapshot(runtime)
    for body in [
        {"capacity": {"chat": -1}},
        {"capacity": {"chat": 1001}},
        {"default_capacity": None},
        {"skills": {"languages": ["english language"]}},
        {"skills": {"topics": [""]}},
        {"skills": {"mood": "calm"}},
    ]:
        r = await client.patch(url, json=body, headers=desk.supervisor_h)
        assert r.status_code == 422, (body, r.text)
    assert (await client.patch(url, json={"default_capacity": 3}, headers=desk.olga_h)).status_code == 403
    assert (await client.get("/api/v1/routing/agents/999999", headers=desk.admin_h)).status_code == 404
    assert await snapshot(runtime) == before
    r = await client.patch(
        url,
        json={
            "capacity": {"chat": 5, "email": 20},
            "default_capacity": 8,
            "skills": {
                "topics": ["Возврат", "возврат"],
                "languages": ["EN"],
                "channels": ["chat"],
                "vip": True,
            },
        },
        headers=desk.supervisor_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == {"chat": 5, "email": 20} and r.json()["default_capacity"] == 8
    assert r.json()["skills"] == {
        "topics": ["возврат"],
        "languages": ["en"],
        "channels": ["chat"],
        "vip": True,
    }
    await ticket(client, desk, None, assignee_id=desk.olga.id)
    assert (await client.get(url, headers=desk.olga_h)).json()["load"] == {"api": 1}


async def test_new_tickets_go_to_the_least_loaded_online_agent(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ivan_id, ivan_h = await second_support_agent(runtime, desk)
    await auto(client, desk, desk.support.id)
    await online(client, desk.olga_h)
    await online(client, ivan_h)
    made = [await ticket(client, desk, desk.support.id, subject=f"Вопрос {i}") for i in range(4)]
    assignees = [(await current(client, desk, t["id"]))["assignee_id"] for t in made]
    assert sorted(assignees) == sorted([desk.olga.id, ivan_id] * 2)
    evs = await events(client, desk, made[0]["id"])
    assigned = [e for e in evs if e["kind"] == "assigned"]
    assert len(assigned) == 1 and assigned[0]["actor_type"] == "system"
    assert assigned[0]["data"] == {"assignee_id": {"old": None, "new": assignees[0]}, "via": "routing"}
    # Billing stays manual: its tickets wait even with Pavel online.
    await online(client, desk.pavel_h)
    billing = await ticket(client, desk, desk.billing.id)
    assert (await current(client, desk, billing["id"]))["assignee_id"] is None


async def test_a_waiting_ticket_is_assigned_when_an_agent_comes_online(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    await auto(client, desk, desk.support.id)
    t = await ticket(client, desk, desk.support.id)
    assert (await current(client, desk, t["id"]))["assignee_id"] is None
    queue = (
        await client.get(
            "/api/v1/routing/queue", params={"team_id": desk.support.id}, headers=desk.supervisor_h
        )
    ).json()
    assert [i["ticket_id"] for i in queue["items"]] == [t["id"]]
    answer = await online(client, desk.olga_h)
    assert answer == {
        "agent_id": desk.olga.id,
        "presence": "online",
        "changed": True,
        "assigned_ticket_ids": [t["id"]],
    }
    assert (await current(client, desk, t["id"]))["assignee_id"] == desk.olga.id
    again = await online(client, desk.olga_h)
    assert again["changed"] is False
    await online(client, desk.olga_h, "away")
    second = await ticket(client, desk, desk.support.id)
    assert (await current(client, desk, second["id"]))["assignee_id"] is None
    async with runtime.db.uow() as uow:
        log = (await uow.session.scalars(select(PresenceChange).order_by(PresenceChange.id))).all()
    assert [(c.agent_id, c.old, c.new) for c in log] == [
        (desk.olga.id, "offline", "online"),
        (desk.olga.id, "online", "away"),
    ]
    bad = await client.put("/api/v1/me/presence", json={"presence": "busy"}, headers=desk.olga_h)
    assert bad.status_code == 422


async def test_capacity_holds_tickets_back_until_the_agent_frees_a_slot(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    await auto(client, desk, desk.support.id)
    r = await client.patch(
        f"/api/v1/routing/agents/{desk.olga.id}", json={"capacity": {"api": 1}}, headers=desk.supervisor_h
    )
    assert r.status_code == 200
    await online(client, desk.olga_h)
    first = await ticket(client, desk, desk.support.id, subject="первый")
    second = await ticket(client, desk, desk.support.id, subject="второй")
    third = await ticket(client, desk, desk.support.id, subject="третий", priority="urgent")
    assert (await current(client, desk, first["id"]))["assignee_id"] == desk.olga.id
    assert (await current(client, desk, second["id"]))["assignee_id"] is None
    # Solving frees the slot; the urgent ticket goes first although younger.
    r = await client.patch(f"/api/v1/tickets/{first['id']}", json={"status": "solved"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    assert (await current(client, desk, third["id"]))["assignee_id"] == desk.olga.id
    assert (await current(client, desk, second["id"]))["assignee_id"] is None
    # Handing a ticket to someone else frees the slot too.
    r = await client.patch(
        f"/api/v1/tickets/{third['id']}", json={"assignee_id": desk.supervisor.id}, headers=desk.admin_h
    )
    assert r.status_code == 200
    assert (await current(client, desk, second["id"]))["assignee_id"] == desk.olga.id
    # Pending tickets wait on the customer and do not count.
    r = await client.patch(f"/api/v1/tickets/{second['id']}", json={"status": "pending"}, headers=desk.olga_h)
    fourth = await ticket(client, desk, desk.support.id, subject="четвёртый")
    assert (await current(client, desk, fourth["id"]))["assignee_id"] == desk.olga.id


async def test_queue_view_lists_waiting_tickets_in_serve_order(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    old = await ticket(client, desk, desk.support.id, subject="old")
    urgent = await ticket(client, desk, desk.support.id, subject="urgent", priority="urgent")
    vip = await ticket(client, desk, desk.support.id, subject="vip", tags=["VIP"])
    await ticket(client, desk, desk.support.id, subject="taken", assignee_id=desk.olga.id)
    billing = await ticket(client, desk, desk.billing.id, subject="billing")
    r = await client.get(
        "/api/v1/routing/queue", params={"team_id": desk.support.id}, headers=desk.supervisor_h
    )
    items = r.json()["items"]
    assert [i["ticket_id"] for i in items] == [urgent["id"], vip["id"], old["id"]]
    assert [i["position"] for i in items] == [1, 2, 3] and items[1]["vip"] is True
    assert all(i["waiting_seconds"] >= 0 for i in items)
    everything = (await client.get("/api/v1/routing/queue", headers=desk.admin_h)).json()["items"]
    assert [i["ticket_id"] for i in everything][-1] == billing["id"] and len(everything) == 4
    assert (await client.get("/api/v1/routing/queue", headers=desk.olga_h)).status_code == 403
    missing = await client.get("/api/v1/routing/queue", params={"team_id": 999999}, headers=desk.admin_h)
    assert missing.status_code == 404


async def test_escalation_moves_the_ticket_to_the_second_line_with_a_reason(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    t = await ticket(client, desk, desk.support.id, assignee_id=desk.olga.id)
    url = f"/api/v1/tickets/{t['id']}/escalate"
    before = await snapshot(runtime)
    for body in [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x", "team_id": 999999}, {"reason": "x"}]:
        r = await client.post(url, json=body, headers=desk.olga_h)
        assert r.status_code == 422, (body, r.text)
    r = await client.post(url, json={"reason": "x", "team_id": desk.support.id}, headers=desk.olga_h)
    assert r.status_code == 422
    assert (await client.post(url, json={"reason": "x"}, headers=desk.pavel_h)).status_code == 403
    assert (await client.post(url, json={"reason": "x"}, headers=desk.reader_h)).status_code == 403
    assert await snapshot(runtime) == before
    await auto(client, desk, desk.support.id, escalation_team_id=desk.billing.id)
    await auto(client, desk, desk.billing.id, line="second")
    await online(client, desk.pavel_h)
    r = await client.post(url, json={"reason": "Нужен возврат средств"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    assert r.json()["team_id"] == desk.billing.id
    now = await current(client, desk, t["id"])
    assert now["team_id"] == desk.billing.id and now["assignee_id"] == desk.pavel.id
    kinds = [(e["kind"], e["data"]) for e in await events(client, desk, t["id"])]
    tail = kinds[-4:]
    assert tail[0] == (
        "team_changed",
        {"team_id": {"old": desk.support.id, "new": desk.billing.id}, "via": "escalation"},
    )
    assert tail[1] == ("assigned", {"assignee_id": {"old": desk.olga.id, "new": None}, "via": "escalation"})
    assert tail[2][0] == "escalated" and tail[2][1]["reason"] == "Нужен возврат средств"
    assert tail[3] == ("assigned", {"assignee_id": {"old": None, "new": desk.pavel.id}, "via": "routing"})
    # Back to the first line by naming the team explicitly.
    r = await client.post(url, json={"reason": "Вернуть", "team_id": desk.support.id}, headers=desk.admin_h)
    assert r.status_code == 200 and r.json()["team_id"] == desk.support.id


async def test_skill_routing_falls_back_to_anyone_when_the_wait_ends(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ivan_id, ivan_h = await second_support_agent(runtime, desk)
    await auto(client, desk, desk.support.id, skill_fallback_seconds=60)
    r = await client.patch(
        f"/api/v1/routing/agents/{desk.olga.id}", json={"skills": {"languages": ["en"]}}, headers=desk.admin_h
    )
    assert r.status_code == 200
    await online(client, ivan_h)
    english = await ticket(client, desk, desk.support.id, language="en")
    russian = await ticket(client, desk, desk.support.id, language="ru", email="oleg@mail.example")
    assert (await current(client, desk, english["id"]))["assignee_id"] is None
    assert (await current(client, desk, russian["id"]))["assignee_id"] == ivan_id
    async with runtime.db.uow() as uow:
        jobs = (await uow.session.scalars(select(Job).where(Job.task == service.SERVE_TASK))).all()
        row = await uow.session.get(Ticket, english["id"])
        assert row is not None
        created = row.created_at
    assert [j.unique_key for j in jobs] == [f"{service.SERVE_TASK}:{desk.support.id}:{english['id']}"]
    assert jobs[0].payload == {"team_id": desk.support.id}
    assert abs((jobs[0].run_at - created - timedelta(seconds=60)).total_seconds()) < 2
    # The job runs when the wait is over: anyone free takes the ticket.
    async with runtime.db.uow() as uow:
        done = await service.route_teams(uow, [desk.support.id], now=jobs[0].run_at)
    assert done == [(english["id"], ivan_id)]


async def test_skilled_agent_gets_the_ticket_before_the_fallback(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    _ivan_id, ivan_h = await second_support_agent(runtime, desk)
    await auto(client, desk, desk.support.id, skill_fallback_seconds=60)
    await client.patch(
        f"/api/v1/routing/agents/{desk.olga.id}",
        json={"skills": {"topics": ["возврат"]}},
        headers=desk.admin_h,
    )
    await online(client, ivan_h)
    t = await ticket(client, desk, desk.support.id, topic="Возврат")
    assert (await current(client, desk, t["id"]))["assignee_id"] is None
    answer = await online(client, desk.olga_h)
    assert answer["assigned_ticket_ids"] == [t["id"]]
