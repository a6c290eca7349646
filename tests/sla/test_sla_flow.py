"""End to end: tickets made through the API get clocks that follow replies, statuses and changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.sla import repository, service, tasks
from opora.sla.models import TicketSla
from opora.tickets.models import Ticket
from tests.support.factories import Desk

ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def setup_policies(client: httpx.AsyncClient, desk: Desk) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/sla/calendars",
        json={
            "name": "Always",
            "timezone": "America/New_York",
            "weekly_hours": ALWAYS,
            "holiday_country": None,
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    calendar = r.json()
    urgent = await client.post(
        "/api/v1/sla/policies",
        json={
            "name": "Urgent",
            "position": 0,
            "conditions": {"priorities": ["urgent"]},
            "targets": {"first_response": {"minutes": 15, "calendar_id": calendar["id"]}},
        },
        headers=desk.admin_h,
    )
    normal = await client.post(
        "/api/v1/sla/policies",
        json={
            "name": "Normal",
            "position": 5,
            "targets": {
                "first_response": {"minutes": 60, "calendar_id": calendar["id"]},
                "next_response": {"minutes": 30, "business": False},
                "resolution": {"minutes": 480, "business": False},
            },
        },
        headers=desk.admin_h,
    )
    assert urgent.status_code == 201 and normal.status_code == 201, normal.text
    return {"calendar": calendar, "urgent": urgent.json(), "normal": normal.json()}


async def new_ticket(client: httpx.AsyncClient, desk: Desk, **extra: Any) -> dict[str, Any]:
    body = {
        "subject": "Где мой заказ?",
        "customer": {"identity": {"kind": "email", "value": "irina@mail.example"}, "name": "Ирина"},
        "message": {"text": "Заказ не пришёл", "author": "customer"},
        "team_id": desk.support.id,
        **extra,
    }
    r = await client.post("/api/v1/tickets", json=body, headers=desk.olga_h)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


async def clocks(client: httpx.AsyncClient, desk: Desk, ticket_id: int) -> dict[str, dict[str, Any]]:
    r = await client.get(f"/api/v1/sla/tickets/{ticket_id}", headers=desk.olga_h)
    assert r.status_code == 200, r.text
    return {c["metric"]: c for c in r.json()}


async def sla_events(runtime: Runtime, ticket_id: int) -> list[tuple[str, str]]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return [(e.kind, e.data.get("metric", "")) for e in rows if e.kind.startswith("sla_")]


async def check_jobs(runtime: Runtime, ticket_id: int) -> list[Job]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(select(Job).where(Job.task == "sla.check").order_by(Job.id))
        return [j for j in rows if j.payload["ticket_id"] == ticket_id]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_clocks_follow_the_ticket(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    await setup_policies(client, desk)
    ticket = await new_ticket(client, desk)
    tid = ticket["id"]
    made = await clocks(client, desk, tid)
    assert set(made) == {"first_response", "resolution"}
    first = made["first_response"]
    assert at(first["due_at"]) - at(first["started_at"]) == timedelta(minutes=60)
    assert at(made["resolution"]["due_at"]) - at(made["resolution"]["started_at"]) == timedelta(hours=8)
    assert not first["paused"] and not first["breached"] and first["business"] is True
    jobs = await check_jobs(runtime, tid)
    kinds = sorted((j.payload["metric"], j.payload["kind"]) for j in jobs)
    assert kinds == [
        ("first_response", "breach"),
        ("first_response", "warning"),
        ("resolution", "breach"),
        ("resolution", "warning"),
    ]
    warning = next(
        j for j in jobs if j.payload == {**j.payload, "metric": "first_response", "kind": "warning"}
    )
    assert warning.run_at == at(first["started_at"]) + timedelta(minutes=48)

    # An internal note answers nobody; a public agent reply fulfils the first response.
    note = {"text": "проверю склад", "internal": True}
    await client.post(f"/api/v1/tickets/{tid}/messages", json=note, headers=desk.olga_h)
    assert (await clocks(client, desk, tid))["first_response"]["fulfilled_at"] is None
    await client.post(f"/api/v1/tickets/{tid}/messages", json={"text": "Проверяем"}, headers=desk.olga_h)
    after_reply = await clocks(client, desk, tid)
    assert after_reply["first_response"]["fulfilled_at"] is not None
    assert after_reply["resolution"]["fulfilled_at"] is None

    # The customer writes again: the next response starts; pending pauses everything running.
    customer = {"text": "Есть новости?", "author": "customer"}
    await client.post(f"/api/v1/tickets/{tid}/messages", json=customer, headers=desk.olga_h)
    running = await clocks(client, desk, tid)
    assert at(running["next_response"]["due_at"]) - at(running["next_response"]["started_at"]) == timedelta(
        minutes=30
    )
    r = await client.patch(f"/api/v1/tickets/{tid}", json={"status": "pending"}, headers=desk.olga_h)
    assert r.status_code == 200
    paused = await clocks(client, desk, tid)
    assert paused["resolution"]["paused"] and paused["resolution"]["due_at"] is None
    assert paused["next_response"]["paused"]
    stale = [j.payload for j in await check_jobs(runtime, tid) if j.payload["metric"] == "resolution"]
    # A job queued before the pause finds the clock moved and records nothing.
    async with runtime.db.uow() as uow:
        assert await tasks.check(uow, stale[-1], now=at(stale[-1]["due_at"]) + timedelta(seconds=1)) is None

    # The customer answers: the ticket opens again and the clocks run from where they stopped.
    await client.post(f"/api/v1/tickets/{tid}/messages", json=customer, headers=desk.olga_h)
    resumed = await clocks(client, desk, tid)
    assert not resumed["resolution"]["paused"] and resumed["resolution"]["due_at"] is not None
    assert at(resumed["resolution"]["due_at"]) > at(running["resolution"]["due_at"])

    # The breach job for the current due instant records the breach.
    current = [
        j.payload
        for j in await check_jobs(runtime, tid)
        if j.payload["metric"] == "resolution" and j.payload["kind"] == "breach"
    ][-1]
    assert current["due_at"] == resumed["resolution"]["due_at"].replace("Z", "+00:00")
    async with runtime.db.uow() as uow:
        assert (
            await tasks.check(uow, current, now=at(current["due_at"]) + timedelta(seconds=1))
            == "sla_breached"
        )
    async with runtime.db.uow() as uow:
        assert await tasks.check(uow, current, now=at(current["due_at"]) + timedelta(seconds=2)) is None
    breached = await clocks(client, desk, tid)
    assert breached["resolution"]["breached"] and breached["resolution"]["breached_at"] is not None

    # Solving fulfils what is left; reopening starts the resolution again from zero.
    await client.patch(f"/api/v1/tickets/{tid}", json={"status": "solved"}, headers=desk.olga_h)
    solved = await clocks(client, desk, tid)
    assert all(c["fulfilled_at"] is not None for c in solved.values())
    await client.patch(f"/api/v1/tickets/{tid}", json={"status": "open"}, headers=desk.olga_h)
    reopened = await clocks(client, desk, tid)
    assert reopened["resolution"]["fulfilled_at"] is None and reopened["resolution"]["breached_at"] is None
    assert reopened["resolution"]["elapsed_seconds"] < 5

    kinds = await sla_events(runtime, tid)
    assert kinds[:2] == [("sla_started", "first_response"), ("sla_started", "resolution")]
    for expected in [
        ("sla_fulfilled", "first_response"),
        ("sla_started", "next_response"),
        ("sla_paused", "resolution"),
        ("sla_resumed", "resolution"),
        ("sla_breached", "resolution"),
        ("sla_fulfilled", "resolution"),
    ]:
        assert expected in kinds
    assert kinds[-1] == ("sla_started", "resolution")


async def test_priority_change_rematches_and_keeps_elapsed(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    policies = await setup_policies(client, desk)
    tid = (await new_ticket(client, desk))["id"]
    before = await clocks(client, desk, tid)
    r = await client.patch(f"/api/v1/tickets/{tid}", json={"priority": "urgent"}, headers=desk.olga_h)
    assert r.status_code == 200
    after = await clocks(client, desk, tid)
    first = after["first_response"]
    assert first["policy_id"] == policies["urgent"]["id"] and first["target_minutes"] == 15
    assert first["started_at"] == before["first_response"]["started_at"]
    # The time already counted stays counted: due is 15 minutes after the start, give or take.
    assert abs(at(first["due_at"]) - at(first["started_at"]) - timedelta(minutes=15)) < timedelta(seconds=5)
    # The urgent policy has no resolution target: that clock stops.
    assert after["resolution"]["fulfilled_at"] is not None
    assert ("sla_started", "first_response") in (await sla_events(runtime, tid))[2:]


async def test_read_side_for_the_inbox(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    await setup_policies(client, desk)
    quiet = (await new_ticket(client, desk))["id"]
    hurry = (await new_ticket(client, desk, priority="urgent"))["id"]
    waiting = (await new_ticket(client, desk))["id"]
    await client.patch(f"/api/v1/tickets/{waiting}", json={"status": "on_hold"}, headers=desk.olga_h)
    async with runtime.db.uow() as uow:
        badges = await repository.badges(uow.session, [quiet, hurry, waiting, 999999])
        now = datetime.now(tz=at("2025-01-01T00:00:00+00:00").tzinfo)
        soon = await uow.session.scalars(
            select(Ticket.id).where(repository.at_risk_clause(now, timedelta(minutes=30))).order_by(Ticket.id)
        )
        at_risk = list(soon.all())
        nd = repository.next_due_subquery()
        ordered = await uow.session.scalars(
            select(Ticket.id)
            .outerjoin(nd, nd.c.ticket_id == Ticket.id)
            .order_by(nd.c.next_due_at.asc().nulls_last(), Ticket.id)
        )
        order = list(ordered.all())
        expected_first = await service.expected_first_response(uow, quiet)
        expected_paused = await service.expected_first_response(uow, waiting)
        rows = await repository.clocks_for(uow.session, [quiet])
    assert set(badges) == {quiet, hurry, waiting}
    assert badges[hurry].metric == "first_response" and not badges[hurry].paused
    assert badges[waiting].paused and badges[waiting].due_at is None
    assert not any(b.breached or b.warned for b in badges.values())
    assert at_risk == [hurry]
    assert order == [hurry, quiet, waiting]
    first_row = next(r for r in rows if r.metric == "first_response")
    assert expected_first == first_row.due_at
    assert expected_paused is not None and expected_paused > now
    # A breached ticket is at risk whatever the horizon.
    async with runtime.db.uow() as uow:
        row = await repository.clock(uow.session, quiet, "first_response")
        assert row is not None
        row.breached_at = row.due_at
    async with runtime.db.uow() as uow:
        found = await uow.session.scalars(
            select(Ticket.id).where(repository.at_risk_clause(now, timedelta(0)))
        )
        assert set(found.all()) == {quiet}


async def test_ticket_clocks_respect_visibility(client: httpx.AsyncClient, desk: Desk) -> None:
    await setup_policies(client, desk)
    tid = (await new_ticket(client, desk))["id"]
    assert (await client.get(f"/api/v1/sla/tickets/{tid}", headers=desk.pavel_h)).status_code == 403
    assert (await client.get(f"/api/v1/sla/tickets/{tid}", headers=desk.reader_h)).status_code == 200
    assert (await client.get("/api/v1/sla/tickets/999999", headers=desk.olga_h)).status_code == 404


async def test_no_policy_no_clocks(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    tid = (await new_ticket(client, desk))["id"]
    assert await clocks(client, desk, tid) == {}
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(TicketSla))).all() == []
        assert await service.expected_first_response(uow, tid) is None


async def test_a_segment_change_rematches_the_open_ticket(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    policies = await setup_policies(client, desk)
    vip = await client.post(
        "/api/v1/sla/policies",
        json={
            "name": "VIP",
            "position": 1,
            "conditions": {"segments": ["vip"]},
            "targets": {"first_response": {"minutes": 10, "calendar_id": policies["calendar"]["id"]}},
        },
        headers=desk.admin_h,
    )
    assert vip.status_code == 201, vip.text
    ticket = await new_ticket(client, desk)
    before = await clocks(client, desk, ticket["id"])
    assert before["first_response"]["policy_id"] == policies["normal"]["id"]

    r = await client.patch(
        f"/api/v1/customers/{ticket['customer_id']}", json={"segment": "vip"}, headers=desk.olga_h
    )
    assert r.status_code == 200, r.text
    first = (await clocks(client, desk, ticket["id"]))["first_response"]
    assert first["policy_id"] == vip.json()["id"] and first["target_minutes"] == 10
    assert first["started_at"] == before["first_response"]["started_at"]
