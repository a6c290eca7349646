import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opora.channels.models import Channel
from opora.inbox import service
from opora.inbox.models import InboundPayload
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.inbox.fake_channel import SECRET, TYPE, fake_channel_type
from tests.support.factories import Desk


@pytest.fixture(autouse=True)
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


@pytest.fixture
async def channel(runtime: Runtime) -> Channel:
    async with runtime.db.uow() as uow:
        row = Channel(type=TYPE, name="Fake chat", settings={}, secrets_encrypted="")
        uow.session.add(row)
    return row


async def deliver(
    runtime: Runtime, channel: Channel, body: dict[str, Any], *, external_id: str | None = None
) -> bool:
    async with runtime.db.uow() as uow:
        received = await service.receive(
            uow,
            channel_id=channel.id,
            external_id=external_id or f"p-{body['id']}",
            payload=json.dumps(body).encode(),
            content_type="application/json",
        )
    return received.created


async def drain(runtime: Runtime) -> int:
    worker = Worker(runtime, concurrency=1, poll_seconds=0.05)
    return await worker.run_until_idle()


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def test_same_payload_twice_is_stored_and_processed_once(runtime: Runtime, channel: Channel) -> None:
    assert await deliver(runtime, channel, {"id": "m1", "text": "Привет"})
    assert not await deliver(runtime, channel, {"id": "m1", "text": "Привет"})
    await drain(runtime)
    assert await count(runtime, InboundPayload) == 1
    assert await count(runtime, Message) == 1
    # The same message inside a different payload (a provider's redelivery) is not stored again.
    await deliver(runtime, channel, {"id": "m1", "text": "Привет"}, external_id="other-envelope")
    await drain(runtime)
    assert await count(runtime, Message) == 1


async def test_concurrent_deliveries_store_one_payload(runtime: Runtime, channel: Channel) -> None:
    results = await asyncio.gather(
        *[deliver(runtime, channel, {"id": "race", "text": "x"}) for _ in range(10)]
    )
    assert sum(results) == 1
    await drain(runtime)
    assert await count(runtime, Ticket) == 1


async def test_threading_by_conversation_reference_and_number(runtime: Runtime, channel: Channel) -> None:
    await deliver(runtime, channel, {"id": "a1", "from": "1", "text": "Где заказ?"})
    await deliver(runtime, channel, {"id": "a2", "from": "1", "text": "Ау?"})
    await drain(runtime)
    [first] = await tickets(runtime)
    # A second customer quoting the first customer's ticket number does not get into it.
    await deliver(
        runtime, channel, {"id": "b1", "from": "2", "text": "[#1]", "number": first.id, "chat": False}
    )
    # A reference to a known message threads even without a conversation.
    await deliver(
        runtime, channel, {"id": "c1", "from": "3", "text": "в копии", "reply_to": "a1", "chat": False}
    )
    await drain(runtime)
    all_tickets = await tickets(runtime)
    assert len(all_tickets) == 2
    async with runtime.db.uow() as uow:
        counts = dict(
            (
                await uow.session.execute(select(Message.ticket_id, func.count()).group_by(Message.ticket_id))
            ).all()
        )
    assert counts[first.id] == 3


async def test_solved_ticket_reopens_and_closed_one_gets_a_follow_up(
    runtime: Runtime, channel: Channel
) -> None:
    await deliver(runtime, channel, {"id": "s1", "text": "вопрос"})
    await drain(runtime)
    [ticket] = await tickets(runtime)
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket.id)
        assert row is not None
        row.status = "solved"
        row.solved_at = row.created_at
    await deliver(runtime, channel, {"id": "s2", "text": "ещё вопрос"})
    await drain(runtime)
    [reopened] = await tickets(runtime)
    assert reopened.status == "open"
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket.id)
        assert row is not None
        row.status = "closed"
    await deliver(runtime, channel, {"id": "s3", "text": "снова я"})
    await drain(runtime)
    old, follow_up = await tickets(runtime)
    assert follow_up.status == "new" and old.status == "closed"


async def test_bad_payloads_are_quarantined_and_never_block_the_queue(
    runtime: Runtime, channel: Channel
) -> None:
    async with runtime.db.uow() as uow:
        await service.receive(
            uow,
            channel_id=channel.id,
            external_id="bad",
            payload=b"\xff\x00not json",
            content_type="application/json",
        )
    await deliver(runtime, channel, {"id": "boom", "explode": True})
    await deliver(runtime, channel, {"id": "fine", "text": "ok"})
    await drain(runtime)
    async with runtime.db.uow() as uow:
        states = dict(
            (await uow.session.execute(select(InboundPayload.external_id, InboundPayload.state))).all()
        )
        errors = dict(
            (await uow.session.execute(select(InboundPayload.external_id, InboundPayload.error))).all()
        )
        jobs = (await uow.session.scalars(select(Job.state))).all()
    assert states == {"bad": "quarantined", "p-boom": "quarantined", "p-fine": "processed"}
    assert "not JSON" in errors["bad"] and "parser bug" in errors["p-boom"]
    assert set(jobs) == {"done"}
    assert await count(runtime, Ticket) == 1


async def test_one_job_processes_a_batch(runtime: Runtime, channel: Channel) -> None:
    for i in range(20):
        await deliver(runtime, channel, {"id": f"b{i}", "from": str(i), "text": f"сообщение {i}"})
    async with runtime.db.uow() as uow:
        first = (await uow.session.scalars(select(InboundPayload.id).order_by(InboundPayload.id))).first()
        assert first is not None
        handled = await service.process(uow, runtime, first, batch_size=50)
    assert handled == 20
    assert await count(runtime, Ticket) == 20
    async with runtime.db.uow() as uow:
        queued = await uow.session.scalar(select(func.count()).select_from(Job).where(Job.state == "queued"))
    assert queued == 1  # only the job of the payload we processed by hand is left, and it is a no-op
    await drain(runtime)
    assert await count(runtime, Message) == 20


async def test_admin_retries_a_quarantined_payload(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, channel: Channel
) -> None:
    await deliver(runtime, channel, {"id": "later", "explode": True})
    await drain(runtime)
    listed = (await client.get("/api/v1/admin/inbound", headers=desk.admin_h)).json()["items"]
    assert [p["state"] for p in listed] == ["quarantined"]
    assert (await client.get("/api/v1/admin/inbound", headers=desk.olga_h)).status_code == 403
    payload_id = listed[0]["id"]
    # The admin fixes the data (here: the payload) and retries.
    async with runtime.db.uow() as uow:
        row = await uow.session.get(InboundPayload, payload_id)
        assert row is not None
        row.payload = json.dumps({"id": "later", "text": "fixed"})
    r = await client.post(f"/api/v1/admin/inbound/{payload_id}/retry", headers=desk.admin_h)
    assert r.status_code == 200 and r.json()["state"] == "received"
    again = await client.post(f"/api/v1/admin/inbound/{payload_id}/retry", headers=desk.admin_h)
    assert again.status_code == 422
    await drain(runtime)
    assert await count(runtime, Message) == 1


async def test_webhook_verifies_stores_and_answers_202(
    client: httpx.AsyncClient, runtime: Runtime, channel: Channel
) -> None:
    body = json.dumps({"id": "w1", "text": "hi"})
    denied = await client.post(
        f"/api/v1/inbound/{channel.id}", content=body, headers={"x-fake-secret": "wrong"}
    )
    assert denied.status_code == 401
    assert await count(runtime, InboundPayload) == 0
    ok = await client.post(f"/api/v1/inbound/{channel.id}", content=body, headers={"x-fake-secret": SECRET})
    assert ok.status_code == 202 and ok.json() == {"accepted": True, "duplicate": False}
    dup = await client.post(f"/api/v1/inbound/{channel.id}", content=body, headers={"x-fake-secret": SECRET})
    assert dup.json()["duplicate"] is True
    assert (await client.post("/api/v1/inbound/99999", content=body)).status_code == 404
    await drain(runtime)
    assert await count(runtime, Message) == 1


async def test_bounce_marks_our_message_failed_instead_of_a_ticket(
    runtime: Runtime, channel: Channel
) -> None:
    await deliver(runtime, channel, {"id": "q1", "text": "вопрос"})
    await drain(runtime)
    [ticket] = await tickets(runtime)
    async with runtime.db.uow() as uow:
        uow.session.add(
            Message(
                ticket_id=ticket.id,
                direction="out",
                author_type="agent",
                text="ответ",
                channel_type=TYPE,
                channel_id=channel.id,
                external_id="our-1",
                delivery_status="sent",
            )
        )
    await deliver(runtime, channel, {"id": "dsn", "from": "mailer-daemon", "bounce_of": "our-1"})
    await drain(runtime)
    assert await count(runtime, Ticket) == 1
    async with runtime.db.uow() as uow:
        status = await uow.session.scalar(
            select(Message.delivery_status).where(Message.external_id == "our-1")
        )
    assert status == "failed"
