"""Auto-acknowledgement of new tickets that arrive through a channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from opora.channels.models import Channel
from opora.customers.models import Customer, CustomerIdentity
from opora.events.models import TicketEvent
from opora.inbox import service as inbox
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.sla import autoreply, service
from opora.sla.autoreply import expected_reply
from opora.sla.models import SlaPolicy, SlaSettings, TicketSla
from opora.tickets.models import Message, Ticket
from tests.inbox.fake_channel import TYPE, fake_channel_type


@pytest.fixture(autouse=True)
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


async def configure(runtime: Runtime, *, desk_on: bool = True, channel: dict[str, Any] | None = None) -> int:
    async with runtime.db.uow() as uow:
        uow.session.add(
            SlaPolicy(
                name="All",
                position=0,
                conditions={},
                targets={"first_response": {"minutes": 120, "business": False, "calendar_id": None}},
                warning_percent=80,
            )
        )
        uow.session.add(
            SlaSettings(id=1, autoack_enabled=desk_on, autoack_templates={}, out_of_hours_templates={})
        )
        row = Channel(type=TYPE, name="chat", settings=channel or {}, secrets_encrypted="")
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def deliver(runtime: Runtime, channel_id: int, body: dict[str, Any]) -> None:
    async with runtime.db.uow() as uow:
        got = await inbox.receive(
            uow,
            channel_id=channel_id,
            external_id=str(body["id"]),
            payload=json.dumps(body).encode(),
            content_type="application/json",
        )
    assert got.payload_id is not None
    async with runtime.db.uow() as uow:
        await inbox.process(uow, runtime, got.payload_id, batch_size=100)


async def messages(runtime: Runtime) -> list[Message]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Message).order_by(Message.id))).all())


async def test_new_ticket_is_acknowledged_once_with_the_promise(runtime: Runtime) -> None:
    channel_id = await configure(runtime)
    await deliver(runtime, channel_id, {"id": "1", "from": "7", "text": "Где заказ?"})
    await deliver(runtime, channel_id, {"id": "2", "from": "7", "text": "Ау?"})
    found = await messages(runtime)
    assert [(m.direction, m.author_type) for m in found] == [
        ("in", "customer"),
        ("out", "system"),
        ("in", "customer"),
    ]
    ack = found[1]
    async with runtime.db.uow() as uow:
        sla = (await uow.session.scalars(select(TicketSla).where(TicketSla.metric == "first_response"))).one()
        ticket = (await uow.session.scalars(select(Ticket))).one()
        jobs = (await uow.session.scalars(select(Job).where(Job.task == "messages.deliver"))).all()
        kinds = [
            (e.kind, e.data.get("author_type"))
            for e in await uow.session.scalars(select(TicketEvent).order_by(TicketEvent.id))
        ]
        expected = await service.expected_first_response(uow, ticket.id)
    assert sla.due_at is not None and expected == sla.due_at
    promise = expected_reply(ack.created_at, sla.due_at, "UTC", "ru", out_of_hours=False)
    assert ack.text == f"Здравствуйте! Мы получили ваше обращение №{ticket.id} и ответим {promise}."
    assert ack.delivery_status == "queued" and ack.channel_id == channel_id
    assert ack.metadata_["automatic"] is True and ack.metadata_["auto_ack"] is True
    assert [j.payload for j in jobs] == [{"message_id": ack.id}]
    # The acknowledgement is no answer from a person: the first response still waits.
    assert sla.fulfilled_at is None
    assert ("message_added", "system") in kinds


async def test_automatic_mail_is_never_acknowledged(runtime: Runtime) -> None:
    channel_id = await configure(runtime)
    await deliver(runtime, channel_id, {"id": "1", "from": "7", "text": "I am on holiday", "auto": True})
    assert [m.direction for m in await messages(runtime)] == ["in"]


@pytest.mark.parametrize(
    ("desk_on", "channel", "acknowledged"),
    [
        (False, None, False),
        (False, {"auto_acknowledge": True}, True),
        (True, {"auto_acknowledge": False}, False),
    ],
)
async def test_channel_setting_wins_over_the_desk_switch(
    runtime: Runtime, desk_on: bool, channel: dict[str, Any] | None, acknowledged: bool
) -> None:
    channel_id = await configure(runtime, desk_on=desk_on, channel=channel)
    await deliver(runtime, channel_id, {"id": "1", "from": "7", "text": "Вопрос"})
    directions = [m.direction for m in await messages(runtime)]
    assert directions == (["in", "out"] if acknowledged else ["in"])


async def test_admin_template_in_the_customers_language(runtime: Runtime) -> None:
    channel_id = await configure(runtime)
    async with runtime.db.uow() as uow:
        row = await uow.session.get(SlaSettings, 1)
        assert row is not None
        row.autoack_templates = {
            "en": "Dear {{customer.first_name|customer}}, expect us {{sla.expected_reply}}."
        }
        customer = Customer(name="John Smith", language="en")
        uow.session.add(customer)
        await uow.session.flush()
        uow.session.add(CustomerIdentity(customer_id=customer.id, kind="telegram", value="7"))
    await deliver(runtime, channel_id, {"id": "1", "from": "7", "text": "Hello"})
    ack = [m for m in await messages(runtime) if m.direction == "out"]
    assert len(ack) == 1 and ack[0].text.startswith("Dear John, expect us ")
    assert ack[0].text.endswith(".") and "{{" not in ack[0].text


async def test_a_ticket_is_acknowledged_at_most_once(runtime: Runtime) -> None:
    channel_id = await configure(runtime)
    await deliver(runtime, channel_id, {"id": "1", "from": "7", "text": "Вопрос"})
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        assert await autoreply.acknowledge(uow, [ticket.id], now=ticket.created_at) == []
    assert [m.direction for m in await messages(runtime)] == ["in", "out"]


async def test_a_batch_of_new_tickets_reads_clocks_and_policies_once(runtime: Runtime) -> None:
    channel_id = await configure(runtime, desk_on=False)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    async with runtime.db.uow() as uow:
        ids = []
        for n in range(30):
            got = await inbox.receive(
                uow,
                channel_id=channel_id,
                external_id=str(n),
                payload=json.dumps({"id": str(n), "from": str(1000 + n), "text": "?"}).encode(),
                content_type="application/json",
            )
            assert got.payload_id is not None
            ids.append(got.payload_id)
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with runtime.db.uow() as uow:
            await inbox.process(uow, runtime, ids[0], batch_size=100)
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    async with runtime.db.uow() as uow:
        clocks = (await uow.session.scalars(select(TicketSla))).all()
    assert len(clocks) == 30 and all(c.due_at is not None for c in clocks)
    assert len([s for s in statements if "FROM ticket_sla" in s]) == 1
    assert len([s for s in statements if "FROM sla_policies" in s]) == 1
