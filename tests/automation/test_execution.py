"""Rules firing on real ticket events: through the tickets service, audited, loop-safe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.automation import reactions
from opora.automation.models import RuleRun
from opora.channels.models import Channel
from opora.customers.models import Customer
from opora.events.reactions import Fact
from opora.inbox import service as inbox_service
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.automation.helpers import events_of, get_ticket, make_rule, make_ticket
from tests.inbox.fake_channel import TYPE, fake_channel_type
from tests.support.factories import Desk

REFUND_RULE: dict[str, Any] = {
    "name": "Refunds go to Billing",
    "events": ["message_added"],
    "conditions": {
        "all": [{"field": "message.author_type", "op": "is", "value": "customer"}],
        "any": [{"field": "message.text", "op": "contains", "value": ["вернуть деньги", "refund"]}],
    },
}


async def runs(runtime: Runtime, **where: Any) -> list[RuleRun]:
    async with runtime.db.uow() as uow:
        query = select(RuleRun).order_by(RuleRun.id)
        for key, value in where.items():
            query = query.where(getattr(RuleRun, key) == value)
        return list((await uow.session.scalars(query)).all())


async def test_a_rule_changes_the_ticket_through_the_service_and_the_audit_says_which_rule(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    rule = await make_rule(
        client,
        desk.admin_h,
        **REFUND_RULE,
        actions=[
            {"type": "set_team", "team_id": desk.billing.id},
            {"type": "set_priority", "priority": "high"},
            {"type": "add_tags", "tags": ["refund"]},
            {"type": "add_note", "text": "{{customer.name}} хочет вернуть деньги"},
            {"type": "notify_agents", "agent_ids": [desk.pavel.id]},
        ],
    )
    plain = await make_ticket(client, desk.olga_h, desk.support.id, "Где заказ?")
    ticket = await make_ticket(client, desk.olga_h, desk.support.id, "Хочу ВЕРНУТЬ  деньги за заказ")

    assert (await get_ticket(client, desk.admin_h, plain["id"]))["team_id"] == desk.support.id
    changed = await get_ticket(client, desk.admin_h, ticket["id"])
    assert (changed["team_id"], changed["priority"], changed["tags"]) == (desk.billing.id, "high", ["refund"])

    by_rule = [e for e in await events_of(client, desk.admin_h, ticket["id"]) if e["actor_type"] == "rule"]
    assert {e["kind"] for e in by_rule} == {
        "team_changed",
        "priority_changed",
        "tags_changed",
        "message_added",
        "rule_notification",
    }
    assert all(e["actor_id"] == rule["id"] and e["data"]["rule_id"] == rule["id"] for e in by_rule)
    notification = next(e for e in by_rule if e["kind"] == "rule_notification")
    assert notification["data"]["agent_ids"] == [desk.pavel.id]

    notes = (await client.get(f"/api/v1/tickets/{ticket['id']}/messages", headers=desk.admin_h)).json()[
        "items"
    ]
    note = notes[-1]
    assert (note["is_internal"], note["author_type"], note["author_agent_id"]) == (True, "system", None)
    assert note["text"] == "Ирина Петрова хочет вернуть деньги"
    assert note["delivery_status"] == "not_sent"

    audit = (
        await client.get("/api/v1/automation/runs", params={"ticket_id": ticket["id"]}, headers=desk.admin_h)
    ).json()
    [run] = audit["items"]
    assert (run["rule_id"], run["event_kind"], run["event_actor_type"]) == (
        rule["id"],
        "message_added",
        "agent",
    )
    assert [a["outcome"] for a in run["actions"]] == ["applied"] * 5
    assert run["actions"][0]["team_id"] == {"old": desk.support.id, "new": desk.billing.id}
    assert await runs(runtime, ticket_id=plain["id"]) == []


async def test_rules_fire_in_position_order_and_later_rules_see_earlier_changes(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    tag_vip = await make_rule(
        client,
        desk.admin_h,
        name="VIP segment",
        events=["ticket_created"],
        conditions={},
        actions=[{"type": "add_tags", "tags": ["vip"]}],
    )
    urgent = await make_rule(
        client,
        desk.admin_h,
        name="VIP is urgent",
        events=["ticket_created"],
        conditions={"all": [{"field": "tags", "op": "includes_any", "value": ["vip"]}]},
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    first = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, first["id"]))["priority"] == "urgent"

    # Reversed, the priority rule runs before the tag exists.
    await client.post(
        "/api/v1/automation/rules/reorder",
        json={"rule_ids": [urgent["id"], tag_vip["id"]]},
        headers=desk.admin_h,
    )
    second = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, second["id"]))["priority"] == "normal"


async def test_two_rules_that_undo_each_other_stop_after_one_round_each(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ping = await make_rule(
        client,
        desk.admin_h,
        name="ping→pong",
        events=["tags_changed"],
        conditions={"all": [{"field": "tags", "op": "includes_any", "value": ["ping"]}]},
        actions=[{"type": "remove_tags", "tags": ["ping"]}, {"type": "add_tags", "tags": ["pong"]}],
    )
    pong = await make_rule(
        client,
        desk.admin_h,
        name="pong→ping",
        events=["tags_changed"],
        conditions={"all": [{"field": "tags", "op": "includes_any", "value": ["pong"]}]},
        actions=[{"type": "remove_tags", "tags": ["pong"]}, {"type": "add_tags", "tags": ["ping"]}],
    )
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"tags": ["ping"]}, headers=desk.olga_h)
    assert r.status_code == 200, r.text

    fired = await runs(runtime, ticket_id=ticket["id"])
    # The second rule already sees the first one's change on the agent's event; the events the two
    # rules then cause each other find both spent for this ticket, and the chain ends.
    assert [run.rule_id for run in fired] == [ping["id"], pong["id"]]
    assert (await get_ticket(client, desk.admin_h, ticket["id"]))["tags"] == ["ping"]
    # The next change by an agent is a new transaction: both may fire once again.
    await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"tags": ["ping", "x"]}, headers=desk.olga_h)
    assert len(await runs(runtime, ticket_id=ticket["id"])) == 4


async def test_a_rule_never_reacts_to_an_event_it_caused(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    rule = await make_rule(
        client,
        desk.admin_h,
        events=["tags_changed"],
        conditions={},
        actions=[{"type": "add_tags", "tags": ["seen"]}],
    )
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    own = Fact(ticket["id"], "tags_changed", "rule", rule["id"], {"rule_id": rule["id"]})
    other = Fact(ticket["id"], "tags_changed", "rule", rule["id"] + 1, {"rule_id": rule["id"] + 1})
    async with runtime.db.uow() as uow:
        await reactions.run_rules(uow, [own])
    assert await runs(runtime, ticket_id=ticket["id"]) == []
    async with runtime.db.uow() as uow:
        await reactions.run_rules(uow, [other])
    assert len(await runs(runtime, ticket_id=ticket["id"])) == 1


async def test_customer_segment_is_a_condition(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_rule(
        client,
        desk.admin_h,
        events=["message_added"],
        conditions={"all": [{"field": "customer.segment", "op": "is", "value": "vip"}]},
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    first = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, first["id"]))["priority"] == "normal"
    async with runtime.db.uow() as uow:
        customer = await uow.session.get(Customer, first["customer_id"])
        assert customer is not None
        customer.segment = "VIP"
    second = await make_ticket(client, desk.olga_h, desk.support.id)
    assert (await get_ticket(client, desk.admin_h, second["id"]))["priority"] == "urgent"


async def test_a_skipped_action_is_audited_and_does_not_fail_the_change(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_rule(
        client,
        desk.admin_h,
        events=["ticket_created"],
        conditions={},
        actions=[{"type": "set_status", "status": "closed"}, {"type": "add_tags", "tags": ["checked"]}],
    )
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    [run] = await runs(runtime, ticket_id=ticket["id"])
    assert run.actions[0]["outcome"] == "skipped" and "new" in run.actions[0]["reason"]
    assert run.actions[1]["outcome"] == "applied"
    assert (await get_ticket(client, desk.admin_h, ticket["id"]))["status"] == "new"


# -- replies on the customer's channel ----------------------------------------------------------


@pytest.fixture
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


async def receive(runtime: Runtime, channel_id: int, body: dict[str, Any]) -> None:
    async with runtime.db.uow() as uow:
        await inbox_service.receive(
            uow,
            channel_id=channel_id,
            external_id=f"p-{body['id']}",
            payload=json.dumps(body).encode(),
            content_type="application/json",
        )


@pytest.mark.usefixtures("_fake_type")
async def test_a_rule_reply_goes_out_on_the_customers_channel_like_an_agent_reply(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_rule(
        client,
        desk.admin_h,
        name="Welcome",
        events=["message_added"],
        conditions={"all": [{"field": "message.direction", "op": "is", "value": "in"}]},
        actions=[
            {
                "type": "send_reply",
                "text": {
                    "ru": "Здравствуйте, {{customer.first_name|клиент}}! Обращение №{{ticket.number}}.",
                    "en": "Hello, {{customer.first_name|there}}! Ticket #{{ticket.number}}.",
                },
            },
            {"type": "add_note", "text": "Ответили автоматически"},
        ],
    )
    async with runtime.db.uow() as uow:
        channel = Channel(type=TYPE, name="Fake chat", settings={}, secrets_encrypted="")
        uow.session.add(channel)
    await receive(runtime, channel.id, {"id": "m1", "from": "42", "name": "Ирина", "text": "Где заказ?"})
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()

    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        messages = (await uow.session.scalars(select(Message).order_by(Message.id))).all()
        deliveries = (await uow.session.scalars(select(Job).where(Job.task == "messages.deliver"))).all()
    inbound, reply, note = messages
    assert inbound.direction == "in"
    assert reply.text == f"Здравствуйте, Ирина! Обращение №{ticket.id}."
    assert (reply.direction, reply.author_type, reply.is_internal) == ("out", "system", False)
    assert reply.delivery_status == "sent" and reply.external_id == f"out-opora-message-{reply.id}"
    assert (note.is_internal, note.delivery_status) == (True, "not_sent")
    assert len(deliveries) == 1  # the note is never sent
    assert ticket.status == "open"
    assert ticket.first_response_at is None  # an automatic answer is not a human first response
