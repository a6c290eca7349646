"""The dry run predicts what rules would do and writes nothing."""

from __future__ import annotations

import httpx

from opora.runtime import Runtime
from tests.automation.helpers import make_rule, make_ticket
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

DRY_RUN = "/api/v1/automation/rules/dry-run"


async def test_dry_run_lists_what_would_fire_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket = await make_ticket(client, desk.olga_h, desk.support.id, "Хочу вернуть деньги")
    tag = await make_rule(
        client,
        desk.admin_h,
        name="Tag refunds",
        events=["message_added"],
        conditions={"all": [{"field": "message.text", "op": "contains", "value": "вернуть"}]},
        actions=[
            {"type": "add_tags", "tags": ["refund"]},
            {
                "type": "send_reply",
                "text": {"ru": "{{customer.first_name}}, мы вернём деньги.", "en": "We will refund."},
            },
        ],
    )
    escalate = await make_rule(
        client,
        desk.admin_h,
        name="Refunds are urgent",
        events=["message_added"],
        conditions={"all": [{"field": "tags", "op": "includes_any", "value": ["refund"]}]},
        actions=[
            {"type": "set_priority", "priority": "urgent"},
            {"type": "set_team", "team_id": desk.billing.id},
        ],
    )
    other = await make_rule(
        client,
        desk.admin_h,
        name="Only Telegram",
        events=["message_added"],
        conditions={"all": [{"field": "channel_type", "op": "is", "value": "telegram"}]},
        actions=[{"type": "add_tags", "tags": ["tg"]}],
    )
    await make_rule(client, desk.admin_h, name="Other event", events=["status_changed"], conditions={})

    before = await snapshot(runtime)
    r = await client.post(
        DRY_RUN, json={"ticket_id": ticket["id"], "event_kind": "message_added"}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert await snapshot(runtime) == before

    result = r.json()
    assert [(x["rule_id"], x["fires"]) for x in result["rules"]] == [
        (tag["id"], True),
        (escalate["id"], True),  # sees the tag the first rule would add
        (other["id"], False),
    ]
    first, second, third = result["rules"]
    assert first["actions"][0] == {
        "type": "add_tags",
        "outcome": "would_apply",
        "tags": {"old": [], "new": ["refund"]},
    }
    assert (
        first["actions"][1]["text"] == "Ирина, мы вернём деньги." and first["actions"][1]["language"] == "ru"
    )
    assert second["actions"][0]["priority"] == {"old": "normal", "new": "urgent"}
    assert second["actions"][1]["team_id"] == {"old": desk.support.id, "new": desk.billing.id}
    assert third["reason"] == "conditions do not hold"


async def test_dry_run_refuses_bad_input(client: httpx.AsyncClient, desk: Desk) -> None:
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    r = await client.post(
        DRY_RUN, json={"ticket_id": 999999, "event_kind": "message_added"}, headers=desk.admin_h
    )
    assert r.status_code == 404
    r = await client.post(
        DRY_RUN, json={"ticket_id": ticket["id"], "event_kind": "exploded"}, headers=desk.admin_h
    )
    assert r.status_code == 422
    r = await client.post(
        DRY_RUN, json={"ticket_id": ticket["id"], "event_kind": "ticket_created"}, headers=desk.olga_h
    )
    assert r.status_code == 403
