from typing import Any

import httpx
import pytest

from opora.runtime import Runtime
from tests.support.factories import Desk
from tests.support.snapshot import snapshot


def new_ticket(team: int | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": "Где мой заказ 10452?",
        "customer": {"identity": {"kind": "email", "value": "Irina@Mail.example"}, "name": "Ирина"},
        "message": {"text": "Здравствуйте! Заказ не приходит.", "author": "customer"},
        "team_id": team,
        "tags": ["Доставка"],
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_ticket_creates_customer_message_and_events(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    t = await create(client, desk.olga_h, new_ticket(desk.support.id))
    assert t["number"] == t["id"] and t["status"] == "new" and t["tags"] == ["доставка"]
    msgs = (await client.get(f"/api/v1/tickets/{t['id']}/messages", headers=desk.olga_h)).json()["items"]
    assert [(m["direction"], m["author_type"]) for m in msgs] == [("in", "customer")]
    events = (await client.get(f"/api/v1/tickets/{t['id']}/events", headers=desk.olga_h)).json()["items"]
    # Enrichment (opora.ai) may add its own system events after these; the ticket's own come first.
    assert [e["kind"] for e in events][:2] == ["ticket_created", "message_added"]
    assert all(e["actor_type"] == "system" for e in events[2:])
    # The same identity, spelled differently, is the same customer.
    t2 = await create(
        client,
        desk.olga_h,
        new_ticket(
            desk.support.id, customer={"identity": {"kind": "email", "value": " irina@mail.EXAMPLE "}}
        ),
    )
    assert t2["customer_id"] == t["customer_id"]


async def test_agent_sees_only_its_teams_and_own_tickets(client: httpx.AsyncClient, desk: Desk) -> None:
    support = await create(client, desk.admin_h, new_ticket(desk.support.id))
    billing = await create(client, desk.admin_h, new_ticket(desk.billing.id))
    assigned = await create(client, desk.admin_h, new_ticket(desk.billing.id, assignee_id=desk.olga.id))

    def ids(r: httpx.Response) -> set[int]:
        return {t["id"] for t in r.json()["items"]}

    assert ids(await client.get("/api/v1/tickets", headers=desk.admin_h)) == {
        support["id"],
        billing["id"],
        assigned["id"],
    }
    assert ids(await client.get("/api/v1/tickets", headers=desk.supervisor_h)) == {
        support["id"],
        billing["id"],
        assigned["id"],
    }
    assert ids(await client.get("/api/v1/tickets", headers=desk.olga_h)) == {support["id"], assigned["id"]}
    assert ids(await client.get("/api/v1/tickets", headers=desk.pavel_h)) == {billing["id"], assigned["id"]}
    denied = await client.get(f"/api/v1/tickets/{billing['id']}", headers=desk.olga_h)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    denied = await client.get(f"/api/v1/tickets/{billing['id']}/messages", headers=desk.olga_h)
    assert denied.status_code == 403


async def test_filters_and_cursor_pagination(client: httpx.AsyncClient, desk: Desk) -> None:
    made = [
        await create(client, desk.admin_h, new_ticket(desk.support.id, subject=f"Вопрос {i}"))
        for i in range(7)
    ]
    await client.patch(f"/api/v1/tickets/{made[0]['id']}", json={"tags": ["vip"]}, headers=desk.admin_h)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/tickets", params=params, headers=desk.admin_h)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(t["id"] for t in made) and len(seen) == 7
    assert seen[0] == made[0]["id"]  # most recently updated first
    tagged = (await client.get("/api/v1/tickets", params={"tag": "VIP"}, headers=desk.admin_h)).json()[
        "items"
    ]
    assert [t["id"] for t in tagged] == [made[0]["id"]]
    found = (await client.get("/api/v1/tickets", params={"q": "Вопрос 3"}, headers=desk.admin_h)).json()[
        "items"
    ]
    assert [t["id"] for t in found] == [made[3]["id"]]
    by_text = (await client.get("/api/v1/tickets", params={"q": "не приходит"}, headers=desk.admin_h)).json()
    assert len(by_text["items"]) == 7
    new = (
        await client.get(
            "/api/v1/tickets", params={"status": ["new"], "team_id": desk.billing.id}, headers=desk.admin_h
        )
    ).json()
    assert new["items"] == []


async def test_reply_opens_ticket_and_records_first_response(client: httpx.AsyncClient, desk: Desk) -> None:
    t = await create(client, desk.olga_h, new_ticket(desk.support.id))
    note = await client.post(
        f"/api/v1/tickets/{t['id']}/messages",
        json={"text": "проверить склад", "internal": True},
        headers=desk.olga_h,
    )
    assert (
        note.status_code == 201
        and note.json()["is_internal"]
        and note.json()["delivery_status"] == "not_sent"
    )
    after_note = (await client.get(f"/api/v1/tickets/{t['id']}", headers=desk.olga_h)).json()
    assert after_note["status"] == "new" and after_note["first_response_at"] is None
    reply = await client.post(
        f"/api/v1/tickets/{t['id']}/messages",
        json={
            "text": "Заказ в пути",
            "html": "<p>Заказ <b>в пути</b><script>x()</script></p>",
            "status": "pending",
        },
        headers=desk.olga_h,
    )
    assert reply.status_code == 201
    assert "<script>" not in reply.json()["html"] and "<b>в пути</b>" in reply.json()["html"]
    ticket = (await client.get(f"/api/v1/tickets/{t['id']}", headers=desk.olga_h)).json()
    assert ticket["status"] == "pending" and ticket["first_response_at"] is not None
    customer = await client.post(
        f"/api/v1/tickets/{t['id']}/messages",
        json={"text": "Спасибо", "author": "customer"},
        headers=desk.olga_h,
    )
    assert customer.status_code == 201
    assert (await client.get(f"/api/v1/tickets/{t['id']}", headers=desk.olga_h)).json()["status"] == "open"
    public = (
        await client.get(
            f"/api/v1/tickets/{t['id']}/messages", params={"include_internal": False}, headers=desk.olga_h
        )
    ).json()["items"]
    assert all(not m["is_internal"] for m in public) and len(public) == 3


async def test_status_changes_follow_the_lifecycle(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    t = await create(client, desk.olga_h, new_ticket(desk.support.id))
    for status in ("open", "on_hold", "solved", "closed"):
        r = await client.patch(f"/api/v1/tickets/{t['id']}", json={"status": status}, headers=desk.olga_h)
        assert r.status_code == 200, r.text
    assert r.json()["solved_at"] is not None and r.json()["closed_at"] is not None
    before = await snapshot(runtime)
    r = await client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "open"}, headers=desk.olga_h)
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "illegal_transition",
        "message": "A ticket cannot go from 'closed' to 'open'.",
        "field": "status",
        "old": "closed",
        "new": "open",
    }
    assert await snapshot(runtime) == before
    events = (await client.get(f"/api/v1/tickets/{t['id']}/events", headers=desk.olga_h)).json()["items"]
    changes = [e["data"]["status"] for e in events if e["kind"] == "status_changed"]
    assert changes[-1] == {"old": "solved", "new": "closed"}


async def test_update_fields_assign_and_events(client: httpx.AsyncClient, desk: Desk) -> None:
    t = await create(client, desk.olga_h, new_ticket(desk.support.id))
    r = await client.patch(
        f"/api/v1/tickets/{t['id']}",
        json={
            "priority": "high",
            "assignee_id": desk.olga.id,
            "tags": ["b", "a", "a"],
            "topic": "delivery",
            "custom_fields": {"order": "10452", "gift": True},
        },
        headers=desk.olga_h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["priority"], body["assignee_id"], body["tags"]) == ("high", desk.olga.id, ["a", "b"])
    r = await client.patch(
        f"/api/v1/tickets/{t['id']}", json={"custom_fields": {"gift": None}}, headers=desk.olga_h
    )
    fields = r.json()["custom_fields"]
    assert fields["order"] == "10452" and "gift" not in fields
    kinds = [
        e["kind"]
        for e in (await client.get(f"/api/v1/tickets/{t['id']}/events", headers=desk.olga_h)).json()["items"]
    ]
    for kind in ("priority_changed", "assigned", "tags_changed", "topic_changed", "fields_changed"):
        assert kind in kinds
    # Olga may not hand the ticket to Pavel: they share no team.
    r = await client.patch(
        f"/api/v1/tickets/{t['id']}", json={"assignee_id": desk.pavel.id}, headers=desk.olga_h
    )
    assert r.status_code == 403


async def test_merge_moves_messages_and_closes_source(client: httpx.AsyncClient, desk: Desk) -> None:
    a = await create(client, desk.olga_h, new_ticket(desk.support.id, tags=["x"]))
    b = await create(client, desk.olga_h, new_ticket(desk.support.id, tags=["y"]))
    r = await client.post(
        f"/api/v1/tickets/{a['id']}/merge", json={"target_ticket_id": b["id"]}, headers=desk.olga_h
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == b["id"] and r.json()["tags"] == ["x", "y"]
    source = (await client.get(f"/api/v1/tickets/{a['id']}", headers=desk.olga_h)).json()
    assert source["merged_into_id"] == b["id"] and source["status"] == "closed"
    msgs = (await client.get(f"/api/v1/tickets/{b['id']}/messages", headers=desk.olga_h)).json()["items"]
    assert len(msgs) == 2
    again = await client.post(
        f"/api/v1/tickets/{a['id']}/merge", json={"target_ticket_id": b["id"]}, headers=desk.olga_h
    )
    assert again.status_code == 409
    itself = await client.post(
        f"/api/v1/tickets/{b['id']}/merge", json={"target_ticket_id": b["id"]}, headers=desk.olga_h
    )
    assert itself.status_code == 409
    listed = {t["id"] for t in (await client.get("/api/v1/tickets", headers=desk.olga_h)).json()["items"]}
    assert listed == {b["id"]}


BAD_CREATES = [
    ("unknown field", {"colour": "red"}, 422, "colour"),
    ("wrong type", {"priority": 5}, 422, "priority"),
    ("bad enum", {"priority": "critical"}, 422, "priority"),
    ("too long subject", {"subject": "x" * 501}, 422, "subject"),
    ("too long text", {"message": {"text": "я" * 100_001}}, 422, "message.text"),
    ("empty text", {"message": {"text": ""}}, 422, "message.text"),
    ("unknown team", {"team_id": 999_999}, 422, "team_id"),
    ("unknown assignee", {"assignee_id": 999_999}, 422, "assignee_id"),
    ("unknown customer", {"customer": {"id": 999_999}}, 422, "customer.id"),
    ("no customer", {"customer": {}}, 422, "customer"),
    (
        "bad identity kind",
        {"customer": {"identity": {"kind": "icq", "value": "1"}}},
        422,
        "customer.identity.kind",
    ),
    ("bad custom field", {"custom_fields": {"a": {"nested": 1}}}, 422, "custom_fields"),
    ("too many tags", {"tags": [f"t{i}" for i in range(51)]}, 422, "tags"),
]


@pytest.mark.parametrize(
    ("case", "override", "status", "field"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES]
)
async def test_bad_create_is_refused_precisely_and_changes_nothing(
    client: httpx.AsyncClient,
    desk: Desk,
    runtime: Runtime,
    case: str,
    override: dict[str, Any],
    status: int,
    field: str,
) -> None:
    before = await snapshot(runtime)
    r = await client.post(
        "/api/v1/tickets", json=new_ticket(desk.support.id, **override), headers=desk.admin_h
    )
    assert r.status_code == status, r.text
    error = r.json()["error"]
    fields = [f["field"] for f in error.get("fields", [])] or [error.get("field")]
    assert any(f is not None and f.startswith(field) for f in fields), error
    assert await snapshot(runtime) == before


async def test_forbidden_and_unknown_ids_change_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    t = await create(client, desk.admin_h, new_ticket(desk.support.id))
    before = await snapshot(runtime)
    cases = [
        (client.post("/api/v1/tickets", json=new_ticket(desk.support.id), headers=desk.reader_h), 403),
        (client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "open"}, headers=desk.reader_h), 403),
        (client.post(f"/api/v1/tickets/{t['id']}/messages", json={"text": "hi"}, headers=desk.reader_h), 403),
        (client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "open"}, headers=desk.pavel_h), 403),
        (client.patch("/api/v1/tickets/999999", json={"status": "open"}, headers=desk.admin_h), 404),
        (client.get("/api/v1/tickets/999999", headers=desk.admin_h), 404),
        (
            client.post(
                f"/api/v1/tickets/{t['id']}/merge", json={"target_ticket_id": 999999}, headers=desk.admin_h
            ),
            404,
        ),
        (client.patch(f"/api/v1/tickets/{t['id']}", json={"status": None}, headers=desk.admin_h), 422),
        (client.get("/api/v1/tickets", params={"cursor": "not-a-cursor"}, headers=desk.admin_h), 422),
        (client.get("/api/v1/tickets", params={"limit": 1000}, headers=desk.admin_h), 422),
        (
            client.post(
                "/api/v1/tickets",
                content=b"{not json",
                headers={**desk.admin_h, "content-type": "application/json"},
            ),
            422,
        ),
        (client.patch(f"/api/v1/tickets/{t['id']}", json={"status": "open"}), 401),
    ]
    for request, expected in cases:
        r = await request
        assert r.status_code == expected, (expected, r.text)
        assert "error" in r.json()
    assert await snapshot(runtime) == before
    reader_view = await client.get(f"/api/v1/tickets/{t['id']}", headers=desk.reader_h)
    assert reader_view.status_code == 200
