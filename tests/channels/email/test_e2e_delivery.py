"""Sending replies when the customer's server says no: 5xx fails the message with the server's
reason, 4xx and a dead server are retried by the job queue, and a resend keeps its Message-ID."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from opora.channels import service as channels_service
from opora.channels.base import OutboundMessage
from opora.channels.models import Channel
from opora.customers.models import IdentityKind
from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Message
from opora.tickets.service import DELIVER_TASK
from tests.channels.email.e2e_support import (
    SmtpSink,
    drain,
    email_channel,
    free_port,
    mail,
    messages,
    running_receiver,
    running_sink,
    send,
    tickets,
)
from tests.support.factories import Desk


async def reply_on_new_ticket(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk, smtp_port: int
) -> tuple[int, Channel]:
    channel = await email_channel(
        runtime, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none", team_id=desk.support.id
    )
    async with running_receiver(runtime) as receiver:
        await send(receiver.port, mail())
    await drain(runtime)
    [ticket] = await tickets(runtime)
    r = await client.post(
        f"/api/v1/tickets/{ticket.id}/messages", json={"text": "Ответ"}, headers=desk.olga_h
    )
    assert r.status_code == 201
    return int(r.json()["id"]), channel


async def deliver_job(runtime: Runtime) -> Job:
    async with runtime.db.uow() as uow:
        job = (await uow.session.scalars(select(Job).where(Job.task == DELIVER_TASK))).one()
    return job


async def outbound(runtime: Runtime) -> Message:
    [message] = await messages(runtime, Message.direction == "out")
    return message


async def test_permanent_refusal_fails_the_message_with_the_reason(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_sink() as sink:
        sink.answer = "550 5.1.1 <ivan@customer.test>: Recipient address rejected: User unknown"
        await reply_on_new_ticket(runtime, client, desk, sink.port)
        await drain(runtime)
    message = await outbound(runtime)
    assert message.delivery_status == "failed"
    assert message.delivery_error is not None
    assert "550" in message.delivery_error and "User unknown" in message.delivery_error
    assert (await deliver_job(runtime)).state == "done"  # nothing left to retry


async def test_temporary_refusal_is_retried_until_it_goes_through(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_sink() as sink:
        sink.answer = "451 4.7.1 Greylisted, please try again later"
        await reply_on_new_ticket(runtime, client, desk, sink.port)
        await drain(runtime)
        job = await deliver_job(runtime)
        assert (job.state, job.attempts) == ("queued", 1)
        assert job.run_at > utcnow() and "451" in (job.last_error or "")
        assert (await outbound(runtime)).delivery_status == "queued"

        sink.answer = None
        await _make_due(runtime, job.id)
        await drain(runtime)
    assert (await outbound(runtime)).delivery_status == "sent"
    assert len(sink.messages) == 1


async def test_unreachable_server_is_retried(runtime: Runtime, client: httpx.AsyncClient, desk: Desk) -> None:
    await reply_on_new_ticket(runtime, client, desk, free_port())  # nobody listens there
    await drain(runtime)
    job = await deliver_job(runtime)
    assert (job.state, job.attempts) == ("queued", 1)
    assert "connection" in (job.last_error or "").lower()
    assert (await outbound(runtime)).delivery_status == "queued"


async def test_a_resend_carries_the_same_message_id(runtime: Runtime) -> None:
    sink = SmtpSink()
    await sink.start()
    try:
        channel = await email_channel(
            runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none"
        )
        adapter = channels_service.adapter_for(runtime, channel)
        assert adapter is not None
        reply = OutboundMessage(
            idempotency_key="opora-message-42",
            recipient_kind=IdentityKind.EMAIL,
            recipient_value="ivan@customer.test",
            text="Повторная отправка",
            subject="Вопрос",
            ticket_id=7,
            metadata={"ticket_number": 7, "references": []},
        )
        first, second = await adapter.send(reply), await adapter.send(reply)
    finally:
        await sink.stop()
    assert first.ok and second.ok
    assert first.provider_message_id == second.provider_message_id
    assert [str(c.message["Message-ID"]) for c in sink.messages] == [f"<{first.provider_message_id}>"] * 2
    # No parent: a fresh subject, without "Re:".
    assert str(sink.messages[0].message["Subject"]) == "[#7] Вопрос"


async def _make_due(runtime: Runtime, job_id: int) -> None:
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(Job).where(Job.id == job_id).values(run_at=utcnow() - timedelta(seconds=1))
        )
