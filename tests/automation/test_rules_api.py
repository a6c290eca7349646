"""Rule administration: CRUD, validation on write, order, permissions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opora.runtime import Runtime
from tests.automation.helpers import RULES, make_rule, rule_body
from tests.support.factories import Desk
from tests.support.snapshot import snapshot


async def test_admin_creates_reads_updates_and_deletes_a_rule(client: httpx.AsyncClient, desk: Desk) -> None:
    rule = await make_rule(client, desk.admin_h)
    assert rule["position"] == 0 and rule["is_active"] and rule["created_by_id"] == desk.admin.id
    assert rule["conditions"] == {"all": [{"field": "status", "op": "is", "value": "new"}], "any": []}
    assert rule["actions"] == [{"type": "add_tags", "tags": ["auto"]}]

    r = await client.patch(
        f"{RULES}/{rule['id']}", json={"is_active": False, "name": "Off"}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["is_active"], r.json()["name"]) == (False, "Off")

    listed = (await client.get(RULES, headers=desk.supervisor_h)).json()
    assert [x["id"] for x in listed] == [rule["id"]]

    assert (await client.delete(f"{RULES}/{rule['id']}", headers=desk.admin_h)).status_code == 204
    assert (await client.get(f"{RULES}/{rule['id']}", headers=desk.admin_h)).status_code == 404


async def test_every_action_kind_is_accepted(client: httpx.AsyncClient, desk: Desk) -> None:
    actions: list[dict[str, Any]] = [
        {"type": "set_status", "status": "pending"},
        {"type": "set_priority", "priority": "high"},
        {"type": "set_topic", "topic": "Возврат"},
        {"type": "set_team", "team_id": desk.billing.id},
        {"type": "set_assignee", "assignee_id": desk.pavel.id},
        {"type": "add_tags", "tags": ["Refund"]},
        {"type": "remove_tags", "tags": ["new"]},
        {"type": "add_note", "text": "Клиент {{customer.name}} просит возврат"},
        {
            "type": "send_reply",
            "text": {"ru": "Здравствуйте, {{customer.first_name|клиент}}!", "en": "Hello!"},
        },
        {"type": "notify_agents", "agent_ids": [desk.olga.id], "assignee": True},
    ]
    rule = await make_rule(client, desk.admin_h, actions=actions)
    assert [a["type"] for a in rule["actions"]] == [a["type"] for a in actions]
    assert rule["actions"][5]["tags"] == ["refund"]
    vocabulary = (await client.get("/api/v1/automation/vocabulary", headers=desk.admin_h)).json()
    assert "call_webhook" in vocabulary["actions"] and "message.text" in vocabulary["conditions"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"events": ["ticket_exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"conditions": {"all": [{"field": "mood", "op": "is", "value": "x"}]}}, "conditions.all[0].field"),
        (
            {"conditions": {"any": [{"field": "status", "op": "matches", "value": "new"}]}},
            "conditions.any[0].op",
        ),
        ({"actions": []}, "actions"),
        ({"actions": [{"type": "launch_rocket"}]}, "actions[0].type"),
        ({"actions": [{"type": "set_status", "status": "new"}]}, "actions[0].status"),
        ({"actions": [{"type": "add_tags", "tags": ["ok"], "colour": "red"}]}, "actions[0].colour"),
        ({"actions": [{"type": "send_reply", "text": {}}]}, "actions[0].text"),
        ({"actions": [{"type": "send_reply", "text": {"ru": "{{customer.passport}}"}}]}, "actions[0].text"),
        ({"actions": [{"type": "set_team", "team_id": 999999}]}, "actions[0].team_id"),
        ({"actions": [{"type": "notify_agents", "agent_ids": [999999]}]}, "actions[0].agent_ids"),
        ({"actions": [{"type": "call_webhook", "webhook_id": 999999}]}, "actions[0].webhook_id"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_rules_are_refused_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, change: dict[str, Any], field: str
) -> None:
    before = await snapshot(runtime)
    r = await client.post(RULES, json=rule_body(**change), headers=desk.admin_h)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    fields = [error.get("field")] + [f["field"] for f in error.get("fields", [])]
    assert any(f is not None and f.startswith(field) for f in fields), error
    assert await snapshot(runtime) == before


async def test_an_invalid_update_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    rule = await make_rule(client, desk.admin_h)
    before = await snapshot(runtime)
    r = await client.patch(
        f"{RULES}/{rule['id']}",
        json={"name": "x", "actions": [{"type": "set_priority", "priority": "meh"}]},
        headers=desk.admin_h,
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "actions[0].priority"
    assert await snapshot(runtime) == before


async def test_only_admins_write_rules_and_agents_cannot_read_them(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    for headers in (desk.supervisor_h, desk.olga_h, desk.reader_h):
        assert (await client.post(RULES, json=rule_body(), headers=headers)).status_code == 403
    assert (await client.get(RULES, headers=desk.olga_h)).status_code == 403
    assert (await client.get(RULES, headers=desk.supervisor_h)).status_code == 200


async def test_reorder_sets_positions_and_needs_every_rule_once(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    a = await make_rule(client, desk.admin_h, name="A")
    b = await make_rule(client, desk.admin_h, name="B")
    c = await make_rule(client, desk.admin_h, name="C")
    assert [a["position"], b["position"], c["position"]] == [0, 1, 2]
    r = await client.post(
        f"{RULES}/reorder", json={"rule_ids": [c["id"], a["id"], b["id"]]}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert [x["name"] for x in r.json()] == ["C", "A", "B"]
    assert [x["name"] for x in (await client.get(RULES, headers=desk.admin_h)).json()] == ["C", "A", "B"]

    before = await snapshot(runtime)
    for bad in ([a["id"], b["id"]], [a["id"], a["id"], b["id"], c["id"]], [a["id"], b["id"], c["id"], 999]):
        r = await client.post(f"{RULES}/reorder", json={"rule_ids": bad}, headers=desk.admin_h)
        assert r.status_code == 422 and r.json()["error"]["field"] == "rule_ids"
    assert await snapshot(runtime) == before
