"""The set-based batch: threading inside one batch, the per-payload fallback, hooks."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from opora.channels.models import Channel
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.events.models import TicketEvent
from opora.inbox import batch, service
from opora.inbox.batch import Ingested
from opora.inbox.models import InboundPayload
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.inbox.fake_channel import TYPE, fake_channel_type


@pytest.fixture(autouse=True)
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


async def store(runtime: Runtime, bodies: list[dict[str, Any]]) -> tuple[int, list[int]]:
    async with runtime.db.uow() as uow:
        channel = Channel(type=TYPE, name="chat", settings={}, secrets_encrypted="")
        uow.session.add(channel)
        await uow.session.flush()
        ids = []
        for body in bodies:
            got = await service.receive(
                uow,
                channel_id=channel.id,
                external_id=str(body["id"]),
                payload=json.dumps(body).encode(),
                content_type="application/json",
            )
            assert got.payload_id is not None
            ids.append(got.payload_id)
    return channel.id, ids


async def process_all(runtime: Runtime, first: int) -> int:
    async with runtime.db.uow() as uow:
        return await service.process(uow, runtime, first, batch_size=100)


async def test_a_new_customer_writing_twice_in_one_batch_gets_one_ticket(runtime: Runtime) -> None:
    _, ids = await store(
        runtime,
        [
            {"id": "1", "from": "42", "name": "Оля", "text": "Здравствуйте"},
            {"id": "2", "from": "42", "text": "Заказ 10452 не пришёл"},
            {"id": "3", "from": "43", "text": "Другой клиент"},
            {"id": "4", "from": "44", "text": "ответ на сообщение Оли", "reply_to": "1", "chat": False},
        ],
    )
    assert await process_all(runtime, ids[0]) == 4
    async with runtime.db.uow() as uow:
        per_ticket = dict(
            (
                await uow.session.execute(select(Message.ticket_id, func.count()).group_by(Message.ticket_id))
            ).all()
        )
        kinds = (await uow.session.scalars(select(TicketEvent.kind).order_by(TicketEvent.id))).all()
    assert sorted(per_ticket.values()) == [1, 3]
    assert kinds.count("ticket_created") == 2 and kinds.count("message_added") == 4


async def test_status_changes_inside_a_batch_are_events(runtime: Runtime) -> None:
    _, ids = await store(runtime, [{"id": "1", "from": "7", "text": "вопрос"}])
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        ticket.status = "pending"
    channel_id, ids = await store(runtime, [{"id": "2", "from": "7", "text": "ещё"}])
    # A second channel row: move the ticket there so the conversation continues on it.
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket.id)
        assert row is not None
        row.channel_id = channel_id
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket.id)
        changes = (
            await uow.session.scalars(select(TicketEvent.data).where(TicketEvent.kind == "status_changed"))
        ).all()
    assert row is not None and row.status == "open"
    assert changes == [{"status": {"old": "pending", "new": "open"}}]


async def test_a_payload_that_breaks_storage_is_quarantined_alone(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch._metadata

    def breaks_on_two(item: batch.Item) -> dict[str, Any]:
        if item.inbound.external_id == "2":
            raise RuntimeError("a bug that only this message triggers")
        return real(item)

    monkeypatch.setattr(batch, "_metadata", breaks_on_two)
    _, ids = await store(
        runtime, [{"id": str(i), "from": str(100 + i), "text": f"сообщение {i}"} for i in range(5)]
    )
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        states = dict((await uow.session.execute(select(InboundPayload.id, InboundPayload.state))).all())
        error = await uow.session.scalar(select(InboundPayload.error).where(InboundPayload.id == ids[2]))
        messages = await uow.session.scalar(select(func.count()).select_from(Message))
        customers = await uow.session.scalar(select(func.count()).select_from(Customer))
    assert states[ids[2]] == "quarantined"
    assert error is not None and "only this message" in error
    assert [states[i] for i in ids if i != ids[2]] == ["processed"] * 4
    # The failed attempt of the whole batch left nothing behind.
    assert messages == 4 and customers == 4


async def test_a_sender_no_customer_can_be_made_of_is_quarantined(runtime: Runtime) -> None:
    _, ids = await store(
        runtime, [{"id": "1", "from": "   ", "text": "x"}, {"id": "2", "from": "5", "text": "y"}]
    )
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        rows = dict((await uow.session.execute(select(InboundPayload.id, InboundPayload.error))).all())
    assert rows[ids[0]] is not None and "unusable sender" in rows[ids[0]]
    assert rows[ids[1]] is None


async def test_hooks_see_every_stored_message_in_the_same_transaction(runtime: Runtime) -> None:
    seen: list[Ingested] = []

    async def hook(uow: UnitOfWork, _runtime: Runtime, ingested: list[Ingested]) -> None:
        seen.extend(ingested)
        # A hook's writes commit with the batch.
        for item in ingested:
            ticket = await uow.session.get(Ticket, item.ticket_id)
            assert ticket is not None
            ticket.topic = "delivery"

    service.inbound_hooks.append(hook)
    try:
        _, ids = await store(
            runtime, [{"id": "1", "from": "1", "text": "a"}, {"id": "2", "from": "1", "text": "b"}]
        )
        await process_all(runtime, ids[0])
    finally:
        service.inbound_hooks.remove(hook)
    assert [s.new_ticket for s in seen] == [True, True]  # both messages are in the new ticket
    assert len({s.ticket_id for s in seen}) == 1
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(Ticket.topic))).all() == ["delivery"]


async def test_an_auto_reply_joins_its_ticket_without_waking_it(runtime: Runtime) -> None:
    _, ids = await store(runtime, [{"id": "1", "from": "8", "text": "вопрос"}])
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        ticket.status = "pending"
        channel_id = ticket.channel_id
    async with runtime.db.uow() as uow:
        got = await service.receive(
            uow,
            channel_id=channel_id,
            external_id="2",
            content_type="application/json",
            payload=json.dumps({"id": "2", "from": "8", "text": "Я в отпуске", "auto": True}).encode(),
        )
    assert got.payload_id is not None
    await process_all(runtime, got.payload_id)
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket.id)
        count = await uow.session.scalar(
            select(func.count()).select_from(Message).where(Message.ticket_id == ticket.id)
        )
    assert row is not None and row.status == "pending"
    assert count == 2


async def test_a_channel_whose_secrets_cannot_be_read_only_quarantines_its_own_mail(runtime: Runtime) -> None:
    _, ids = await store(runtime, [{"id": "1", "from": "9", "text": "x"}])
    async with runtime.db.uow() as uow:
        channel = (await uow.session.scalars(select(Channel))).one()
        channel.secrets_encrypted = "sealed-with-another-key"
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        row = await uow.session.get(InboundPayload, ids[0])
    assert row is not None and row.state == "quarantined"
    assert row.error is not None and "OPORA_SECRET_KEY" in row.error


async def test_a_flooding_sender_is_stored_but_never_answered_automatically(runtime: Runtime) -> None:
    limit = batch.FLOOD_LIMIT
    _, ids = await store(
        runtime, [{"id": str(i), "from": "77", "text": f"auto {i}"} for i in range(limit + 3)]
    )
    await process_all(runtime, ids[0])
    async with runtime.db.uow() as uow:
        flags = (await uow.session.scalars(select(Message.metadata_).order_by(Message.id))).all()
    assert len(flags) == limit + 3
    assert [bool(f.get("no_auto_reply")) for f in flags] == [False] * limit + [True] * 3
    assert all(f.get("rate_limited") for f in flags[limit:])
