"""Scorecards, sampling and reviews through the API, with who may do what."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from opora.quality.models import Review
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.surveys.support import make_ticket

API = "/api/v1/quality"
CRITERIA = [
    {"key": "greeting", "label": "Приветствие", "weight": 10},
    {"key": "empathy", "label": "Эмпатия", "weight": 20},
    {"key": "accuracy", "label": "Точность", "weight": 30},
    {"key": "tone", "label": "Тон", "weight": 20},
    {"key": "resolution", "label": "Решение", "weight": 20},
]


async def make_card(client: httpx.AsyncClient, desk: Desk, **extra: Any) -> dict[str, Any]:
    r = await client.post(
        f"{API}/scorecards", json={"name": "Чат", "criteria": CRITERIA, **extra}, headers=desk.admin_h
    )
    assert r.status_code == 201, r.text
    card: dict[str, Any] = r.json()
    return card


async def solved_ticket(runtime: Runtime, *, assignee_id: int, team_id: int, email: str, **extra: Any) -> int:
    ticket_id = await make_ticket(
        runtime, None, assignee_id=assignee_id, team_id=team_id, email=email, **extra
    )
    async with runtime.db.uow() as uow:
        ticket = await uow.session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status = "solved"
    return ticket_id


async def test_scorecard_crud_with_weights_validated(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    card = await make_card(client, desk)
    assert [c["weight"] for c in card["criteria"]] == [10, 20, 30, 20, 20]
    before = await snapshot(runtime)
    bad = await client.patch(
        f"{API}/scorecards/{card['id']}",
        json={"criteria": [{"key": "greeting", "label": "x", "weight": 0}]},
        headers=desk.admin_h,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "criteria[0].weight"
    dup = await client.post(
        f"{API}/scorecards",
        json={"name": "x", "criteria": [CRITERIA[0], CRITERIA[0]]},
        headers=desk.admin_h,
    )
    assert dup.status_code == 422 and dup.json()["error"]["field"] == "criteria[1].key"
    refused = await client.post(
        f"{API}/scorecards", json={"name": "x", "criteria": CRITERIA}, headers=desk.supervisor_h
    )
    assert refused.status_code == 403
    assert await snapshot(runtime) == before
    renamed = await client.patch(
        f"{API}/scorecards/{card['id']}", json={"name": "Почта"}, headers=desk.admin_h
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Почта"
    listed = await client.get(f"{API}/scorecards", headers=desk.olga_h)
    assert [c["name"] for c in listed.json()] == ["Почта"]
    assert (await client.delete(f"{API}/scorecards/{card['id']}", headers=desk.admin_h)).status_code == 204
    assert (await client.get(f"{API}/scorecards/{card['id']}", headers=desk.admin_h)).status_code == 404


async def test_sampling_picks_unreviewed_solved_conversations_by_filter(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    card = await make_card(client, desk)
    olga = [
        await solved_ticket(runtime, assignee_id=desk.olga.id, team_id=desk.support.id, email=f"o{i}@x.ru")
        for i in range(4)
    ]
    pavel = await solved_ticket(runtime, assignee_id=desk.pavel.id, team_id=desk.billing.id, email="p@x.ru")
    await make_ticket(
        runtime, None, assignee_id=desk.olga.id, team_id=desk.support.id, email="open@x.ru"
    )  # open
    r = await client.post(
        f"{API}/samples",
        json={"scorecard_id": card["id"], "count": 3, "agent_id": desk.olga.id},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 201, r.text
    first = {item["ticket_id"] for item in r.json()}
    assert len(first) == 3 and first <= set(olga)
    assert all(item["status"] == "pending" and item["agent_id"] == desk.olga.id for item in r.json())
    # The next sample never repeats a conversation; only one of Olga's is left.
    again = await client.post(
        f"{API}/samples",
        json={"scorecard_id": card["id"], "count": 3, "agent_id": desk.olga.id},
        headers=desk.supervisor_h,
    )
    assert {item["ticket_id"] for item in again.json()} == set(olga) - first
    team = await client.post(
        f"{API}/samples",
        json={"scorecard_id": card["id"], "count": 10, "team_id": desk.billing.id},
        headers=desk.supervisor_h,
    )
    assert [item["ticket_id"] for item in team.json()] == [pavel]
    refused = await client.post(f"{API}/samples", json={"scorecard_id": card["id"]}, headers=desk.olga_h)
    assert refused.status_code == 403


async def test_a_review_scores_each_criterion_and_the_agent_sees_only_its_own(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    card = await make_card(client, desk)
    mine = await solved_ticket(runtime, assignee_id=desk.olga.id, team_id=desk.support.id, email="a@x.ru")
    his = await solved_ticket(runtime, assignee_id=desk.pavel.id, team_id=desk.billing.id, email="b@x.ru")
    reviews = {}
    for ticket_id in (mine, his):
        r = await client.post(
            f"{API}/reviews",
            json={"scorecard_id": card["id"], "ticket_id": ticket_id},
            headers=desk.supervisor_h,
        )
        assert r.status_code == 201, r.text
        reviews[ticket_id] = r.json()["id"]
    dup = await client.post(
        f"{API}/reviews", json={"scorecard_id": card["id"], "ticket_id": mine}, headers=desk.supervisor_h
    )
    assert dup.status_code == 409
    # A pending review is the reviewers' business.
    assert (await client.get(f"{API}/reviews/{reviews[mine]}", headers=desk.olga_h)).status_code == 404
    before = await snapshot(runtime)
    bad = await client.put(
        f"{API}/reviews/{reviews[mine]}", json={"scores": {"greeting": 5}}, headers=desk.supervisor_h
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "scores.empathy"
    assert await snapshot(runtime) == before
    scores = {"greeting": 5, "empathy": 4, "accuracy": 5, "tone": 5, "resolution": None}
    done = await client.put(
        f"{API}/reviews/{reviews[mine]}",
        json={"scores": scores, "comment": "Хорошо"},
        headers=desk.supervisor_h,
    )
    assert done.status_code == 200, done.text
    # (10*5 + 20*4 + 30*5 + 20*5) / (5 * 80) = 95 %
    assert done.json()["total"] == 95.0 and done.json()["status"] == "done"
    await client.put(
        f"{API}/reviews/{reviews[his]}", json={"scores": {**scores, "tone": 0}}, headers=desk.supervisor_h
    )

    own = await client.get(f"{API}/reviews", headers=desk.olga_h)
    assert [item["id"] for item in own.json()["items"]] == [reviews[mine]]
    assert (await client.get(f"{API}/reviews/{reviews[his]}", headers=desk.olga_h)).status_code == 404
    assert (
        await client.get(f"{API}/reviews?agent_id={desk.pavel.id}", headers=desk.olga_h)
    ).status_code == 403
    assert (await client.get(f"{API}/reviews/{reviews[mine]}", headers=desk.olga_h)).json()[
        "comment"
    ] == "Хорошо"
    everyone = await client.get(f"{API}/reviews", headers=desk.supervisor_h)
    assert len(everyone.json()["items"]) == 2
    assert (
        await client.put(f"{API}/reviews/{reviews[mine]}", json={"scores": scores}, headers=desk.olga_h)
    ).status_code == 403

    trend = await client.get(f"{API}/agents/{desk.olga.id}/scores?period=month", headers=desk.olga_h)
    assert trend.status_code == 200
    assert [(p["reviews"], p["average"]) for p in trend.json()["points"]] == [(1, 95.0)]
    assert (await client.get(f"{API}/agents/{desk.pavel.id}/scores", headers=desk.olga_h)).status_code == 403
    async with runtime.db.uow() as uow:
        stored = (await uow.session.scalars(select(Review).where(Review.ticket_id == mine))).one()
    assert stored.reviewer_id == desk.supervisor.id and len(stored.criteria) == 5


async def test_a_scorecard_with_reviews_is_deactivated_not_deleted(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    card = await make_card(client, desk)
    ticket_id = await solved_ticket(
        runtime, assignee_id=desk.olga.id, team_id=desk.support.id, email="a@x.ru"
    )
    await client.post(
        f"{API}/reviews", json={"scorecard_id": card["id"], "ticket_id": ticket_id}, headers=desk.supervisor_h
    )
    assert (await client.delete(f"{API}/scorecards/{card['id']}", headers=desk.admin_h)).status_code == 409
    off = await client.patch(
        f"{API}/scorecards/{card['id']}", json={"is_active": False}, headers=desk.admin_h
    )
    assert off.json()["is_active"] is False
    refused = await client.post(
        f"{API}/samples", json={"scorecard_id": card["id"]}, headers=desk.supervisor_h
    )
    assert refused.status_code == 422
