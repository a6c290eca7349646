"""Segment rules end to end: figures move, segments follow, rules and routing see them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.customers import segments
from opora.customers.models import Customer, SegmentChange
from opora.events.models import TicketEvent
from opora.events.service import SYSTEM, record
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.surveys.models import CsatSurvey
from tests.automation.helpers import get_ticket, make_rule, make_ticket
from tests.shop.test_shop_api import make_shop, order
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.web.helpers import count_queries

RULES = "/api/v1/customers/segment-rules"
CUSTOMERS = "/api/v1/customers"
VIP_RULE = {
    "name": "Big spenders",
    "segment": "vip",
    "conditions": {
        "any": [
            {"field": "customer.spend", "op": "at_least", "value": "50000"},
            {"field": "customer.orders", "op": "at_least", "value": 10},
        ]
    },
}
IRINA = "irina@mail.example"  # the customer of tests.automation.helpers.ticket_body


async def make_segment_rule(client: httpx.AsyncClient, desk: Desk, **over: Any) -> dict[str, Any]:
    r = await client.post(RULES, json={**VIP_RULE, **over}, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def push(
    client: httpx.AsyncClient, shop: dict[str, Any], external_id: str, total: str, **over: Any
) -> int:
    body = order(
        external_id,
        number=external_id,
        total=total,
        items=[],
        customer={"email": over.pop("email", IRINA), "name": "Ирина Петрова"},
        **over,
    )
    r = await client.post("/api/v1/shop/orders", json=body, headers={"X-Opora-Shop-Key": shop["api_key"]})
    assert r.status_code == 200, r.text
    customer_id: int = r.json()["order"]["customer_id"]
    return customer_id


async def customer(client: httpx.AsyncClient, desk: Desk, customer_id: int) -> dict[str, Any]:
    r = await client.get(f"{CUSTOMERS}/{customer_id}", headers=desk.olga_h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def history(client: httpx.AsyncClient, desk: Desk, customer_id: int) -> list[tuple[Any, ...]]:
    r = await client.get(f"{CUSTOMERS}/{customer_id}/segment-history", headers=desk.olga_h)
    assert r.status_code == 200, r.text
    return [(c["old"], c["new"], c["source"], c["rule_id"], c["actor_type"]) for c in reversed(r.json())]


async def test_spend_makes_vip_and_a_vip_rule_routes_the_next_ticket(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    rule = await make_segment_rule(client, desk)
    await make_rule(
        client,
        desk.admin_h,
        name="VIP first",
        events=["ticket_created"],
        conditions={"all": [{"field": "customer.segment", "op": "is", "value": "vip"}]},
        actions=[
            {"type": "set_priority", "priority": "high"},
            {"type": "set_team", "team_id": desk.billing.id},
        ],
    )
    before = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, before["id"]))["priority"] == "normal"

    shop = await make_shop(client, desk)
    customer_id = await push(client, shop, "o-1", "30000")
    assert customer_id == before["customer_id"]
    assert (await customer(client, desk, customer_id))["segment"] is None
    await push(client, shop, "o-2", "25000.00")
    c = await customer(client, desk, customer_id)
    assert (c["segment"], c["segment_source"], c["total_spent"]) == ("vip", "rule", "55000.00")
    assert await history(client, desk, customer_id) == [(None, "vip", "rule", rule["id"], "system")]
    # The open ticket heard of it: rules on "customer_segment_changed" may act on it.
    async with runtime.db.uow() as uow:
        heard = (
            await uow.session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == before["id"], TicketEvent.kind == segments.SEGMENT_CHANGED
                )
            )
        ).one()
    assert (
        heard.data["segment"] == {"old": None, "new": "vip"} and heard.data["segment_rule_id"] == rule["id"]
    )

    after = await make_ticket(client, desk.olga_h, desk.support.id)
    changed = await get_ticket(client, desk.admin_h, after["id"])
    assert (changed["priority"], changed["team_id"]) == ("high", desk.billing.id)

    # Cancelling an order takes the spend under the bound: the rule's segment goes.
    await push(client, shop, "o-2", "25000.00", status="cancelled", updated_at="2026-05-02T10:00:00Z")
    c = await customer(client, desk, customer_id)
    assert (c["segment"], c["segment_source"]) == (None, None)
    assert (await history(client, desk, customer_id))[-1] == ("vip", None, "rule", None, "system")


async def test_a_manual_segment_is_never_overwritten_by_a_rule(client: httpx.AsyncClient, desk: Desk) -> None:
    rule = await make_segment_rule(client, desk)
    shop = await make_shop(client, desk)
    customer_id = await push(client, shop, "o-1", "100")
    r = await client.patch(f"{CUSTOMERS}/{customer_id}", json={"segment": "blocked"}, headers=desk.olga_h)
    assert r.status_code == 200 and r.json()["segment_source"] == "manual"
    await push(client, shop, "o-2", "90000")
    c = await customer(client, desk, customer_id)
    assert (c["segment"], c["segment_source"], c["total_spent"]) == ("blocked", "manual", "90100.00")

    # Clearing the manual segment hands the customer back to the rules at once.
    r = await client.patch(f"{CUSTOMERS}/{customer_id}", json={"segment": None}, headers=desk.olga_h)
    assert (r.json()["segment"], r.json()["segment_source"]) == ("vip", "rule")
    assert await history(client, desk, customer_id) == [
        (None, "blocked", "manual", None, "agent"),
        ("blocked", None, "manual", None, "agent"),
        (None, "vip", "rule", rule["id"], "agent"),
    ]


async def test_tickets_and_ratings_move_the_figures_before_rules_look(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_segment_rule(
        client,
        desk,
        name="Regulars",
        segment="regular",
        conditions={"all": [{"field": "customer.tickets", "op": "at_least", "value": 2}]},
    )
    await make_segment_rule(
        client,
        desk,
        name="Unhappy",
        segment="at-risk",
        conditions={"all": [{"field": "customer.csat_average", "op": "at_most", "value": 2}]},
    )
    await make_rule(
        client,
        desk.admin_h,
        events=["ticket_created"],
        conditions={"all": [{"field": "customer.tickets", "op": "at_least", "value": 2}]},
        actions=[{"type": "add_tags", "tags": ["returning"]}],
    )
    first = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, first["id"]))["tags"] == []
    second = await make_ticket(client, desk.olga_h, desk.support.id)
    # The count already includes this ticket when the automation rule looks at it.
    assert (await get_ticket(client, desk.admin_h, second["id"]))["tags"] == ["returning"]
    customer_id = first["customer_id"]
    c = await customer(client, desk, customer_id)
    assert (c["segment"], c["segment_source"]) == ("regular", "rule")

    # A bad rating moves the CSAT average; the first matching rule is still "regular".
    async with runtime.db.uow() as uow:
        uow.session.add(
            CsatSurvey(
                ticket_id=first["id"],
                customer_id=customer_id,
                channel_type="api",
                rating=1,
                status="answered",
            )
        )
        await record(uow, ticket_id=first["id"], kind="csat_received", actor=SYSTEM, data={"rating": 1})
    profile = (await client.get(f"{CUSTOMERS}/{customer_id}/profile", headers=desk.olga_h)).json()
    assert (profile["lifetime"]["csat_average"], profile["lifetime"]["csat_responses"]) == (1.0, 1)
    assert (await customer(client, desk, customer_id))["segment"] == "regular"

    # Reordering puts "Unhappy" first: the walk it queues re-applies the rules to everyone.
    listed = (await client.get(RULES, headers=desk.supervisor_h)).json()
    order_ids = [listed[1]["id"], listed[0]["id"]]
    r = await client.post(f"{RULES}/reorder", json={"rule_ids": order_ids}, headers=desk.admin_h)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == order_ids
    assert (await customer(client, desk, customer_id))["segment"] == "regular"  # not yet: a job
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()
    assert (await customer(client, desk, customer_id))["segment"] == "at-risk"


async def test_the_walk_covers_everyone_in_batches(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments, "BATCH", 2)
    shop = await make_shop(client, desk)
    ids = [await push(client, shop, f"o-{n}", "60000", email=f"buyer{n}@mail.example") for n in range(5)]
    async with runtime.db.uow() as uow:
        assert [c.segment for c in await uow.session.scalars(select(Customer).order_by(Customer.id))] == [
            None
        ] * 5
    await make_segment_rule(client, desk)
    async with runtime.db.uow() as uow:
        queued = (await uow.session.scalars(select(Job).where(Job.task == segments.REFRESH_TASK))).all()
    assert len(queued) == 1
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()
    async with runtime.db.uow() as uow:
        rows = (await uow.session.scalars(select(Customer).where(Customer.id.in_(ids)))).all()
        walked = (await uow.session.scalars(select(Job).where(Job.task == segments.REFRESH_TASK))).all()
        audit = (await uow.session.scalars(select(SegmentChange))).all()
    assert {(c.segment, c.segment_source) for c in rows} == {("vip", "rule")}
    assert len(walked) == 3  # 2 + 2 + 1 customers
    assert len(audit) == 5


async def test_recounting_a_batch_costs_the_same_for_one_or_many(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_segment_rule(client, desk)
    shop = await make_shop(client, desk)
    ids = [await push(client, shop, f"o-{n}", "10", email=f"b{n}@mail.example") for n in range(12)]
    async with runtime.db.uow() as uow:
        await segments.refresh(uow, ids[:1])  # rules cached, as they are for a batch
        with count_queries(runtime) as one:
            await segments.refresh(uow, ids[:1])
        with count_queries(runtime) as many:
            await segments.refresh(uow, ids)
    assert len(many) == len(one) == 4


async def test_bad_segment_rules_are_refused_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    made = await make_segment_rule(client, desk)
    before = await snapshot(runtime)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"conditions": {"all": [{"field": "status", "op": "is", "value": "new"}]}},
            "conditions.all[0].field",
        ),
        (
            {"conditions": {"all": [{"field": "customer.spend", "op": "at_least", "value": "-5"}]}},
            "conditions.all[0].value",
        ),
        ({"conditions": {}}, "conditions"),
        ({"segment": ""}, "segment"),
        ({"name": ""}, "name"),
    ]
    for over, field in cases:
        r = await client.post(RULES, json={**VIP_RULE, **over}, headers=desk.admin_h)
        error = r.json()["error"]
        named = error.get("field") or error["fields"][0]["field"]
        assert r.status_code == 422 and named == field, (over, r.text)
        r = await client.patch(f"{RULES}/{made['id']}", json=over, headers=desk.admin_h)
        assert r.status_code == 422, (over, r.text)
    for headers in (desk.olga_h, desk.supervisor_h):
        assert (await client.post(RULES, json=VIP_RULE, headers=headers)).status_code == 403
        assert (await client.delete(f"{RULES}/{made['id']}", headers=headers)).status_code == 403
    assert (await client.get(RULES, headers=desk.olga_h)).status_code == 403
    bad_order = await client.post(
        f"{RULES}/reorder", json={"rule_ids": [made["id"], made["id"]]}, headers=desk.admin_h
    )
    assert bad_order.status_code == 422
    assert (await client.delete(f"{RULES}/999999", headers=desk.admin_h)).status_code == 404
    assert await snapshot(runtime) == before

    r = await client.patch(f"{RULES}/{made['id']}", json={"is_active": False}, headers=desk.admin_h)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.delete(f"{RULES}/{made['id']}", headers=desk.admin_h)).status_code == 204
    assert (await client.get(RULES, headers=desk.admin_h)).json() == []


async def test_dry_run_and_vocabulary_know_the_figures(client: httpx.AsyncClient, desk: Desk) -> None:
    vocabulary = (await client.get("/api/v1/automation/vocabulary", headers=desk.admin_h)).json()
    assert set(vocabulary["conditions"]["customer.spend"]) == {
        "at_least",
        "at_most",
        "more_than",
        "less_than",
    }
    assert "customer_segment_changed" in vocabulary["events"]
    rule = await make_rule(
        client,
        desk.admin_h,
        events=["message_added"],
        conditions={"all": [{"field": "customer.orders", "op": "at_least", "value": "2"}]},
        actions=[{"type": "add_tags", "tags": ["loyal"]}],
    )
    assert rule["conditions"]["all"][0]["value"] == 2
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    shop = await make_shop(client, desk)

    async def fires() -> bool:
        r = await client.post(
            "/api/v1/automation/rules/dry-run",
            json={"ticket_id": ticket["id"], "event_kind": "message_added"},
            headers=desk.admin_h,
        )
        assert r.status_code == 200, r.text
        fired: bool = r.json()["rules"][0]["fires"]
        return fired

    await push(client, shop, "o-1", "10")
    assert not await fires()
    await push(client, shop, "o-2", "10")
    assert await fires()
