"""Loops and noise: an auto-responder answering every mail does not start an endless exchange,
a bounce fails our message instead of opening a ticket, and our own mail coming back is ignored."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from opora.tickets.service import DELIVER_TASK
from tests.channels.email.e2e_support import (
    CUSTOMER,
    SUPPORT,
    count,
    drain,
    email_channel,
    mail,
    messages,
    payload_states,
    running_receiver,
    running_sink,
    send,
    tickets,
)
from tests.support.factories import Desk


def dsn(original_id: str, recipient: str) -> bytes:
    """A delivery status notification as Postfix sends it (RFC 3464)."""
    text = f"""From: MAILER-DAEMON@mx.customer.test (Mail Delivery System)
To: {SUPPORT}
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.customer.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.test

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address
    rejected: User unknown in local recipient table

--B1
Content-Type: text/rfc822-headers

From: Shop support <{SUPPORT}>
To: {recipient}
Subject: Re: [#1] x
Message-ID: <{original_id}>

--B1--
"""
    return text.replace("\n", "\r\n").encode()


async def start_conversation(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk, receiver_port: int, sink_port: int
) -> Ticket:
    await email_channel(
        runtime, smtp_host="127.0.0.1", smtp_port=sink_port, smtp_security="none", team_id=desk.support.id
    )
    await send(receiver_port, mail(message_id="<start@customer.test>"))
    await drain(runtime)
    [ticket] = await tickets(runtime)
    r = await client.post(
        f"/api/v1/tickets/{ticket.id}/messages", json={"text": "Ответ"}, headers=desk.olga_h
    )
    assert r.status_code == 201
    return ticket


async def test_an_auto_responder_does_not_start_an_endless_exchange(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_receiver(runtime) as receiver, running_sink() as sink:
        sink.auto_reply_port = receiver.port
        ticket = await start_conversation(runtime, client, desk, receiver.port, sink.port)
        for _ in range(3):  # give a loop every chance to show up
            await drain(runtime)
            await sink.settle()
    assert (len(sink.messages), sink.auto_replies) == (1, 1)
    thread = await messages(runtime, Message.ticket_id == ticket.id)
    assert [m.direction for m in thread] == ["in", "out", "in"]
    auto = thread[-1]
    assert auto.metadata_["threaded_by"] == "reference"
    assert auto.metadata_["auto_submitted"] is True and auto.metadata_["no_auto_reply"] is True
    assert await count(runtime, Message, Message.direction == "out") == 1
    async with runtime.db.uow() as uow:
        queued = (
            await uow.session.scalars(select(Job.id).where(Job.task == DELIVER_TASK, Job.state != "done"))
        ).all()
    assert queued == []


async def test_a_bounce_fails_our_message_instead_of_opening_a_ticket(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_receiver(runtime) as receiver, running_sink() as sink:
        await start_conversation(runtime, client, desk, receiver.port, sink.port)
        await drain(runtime)
        [ours] = await messages(runtime, Message.direction == "out")
        assert ours.delivery_status == "sent" and ours.external_id
        # Mailer daemons send from the null reverse path.
        await send(receiver.port, dsn(ours.external_id, CUSTOMER), sender="")
        await drain(runtime)
    [ours] = await messages(runtime, Message.direction == "out")
    assert ours.delivery_status == "failed"
    assert ours.delivery_error is not None
    assert "User unknown" in ours.delivery_error and CUSTOMER in ours.delivery_error
    assert await count(runtime, Ticket) == 1
    assert await count(runtime, Message) == 2
    assert (await payload_states(runtime))[-1] == "ignored"


async def test_our_own_mail_coming_back_and_lists_are_handled(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_receiver(runtime) as receiver, running_sink() as sink:
        await start_conversation(runtime, client, desk, receiver.port, sink.port)
        await drain(runtime)
        [copy] = sink.messages
        # A list or forwarder rewrote From, but our marker header is still there.
        raw = copy.raw.replace(f"From: Shop support <{SUPPORT}>".encode(), b"From: list@lists.test", 1)
        assert raw != copy.raw
        await send(receiver.port, raw, sender="list@lists.test")
        await send(receiver.port, mail(subject="Рассылка", headers={"List-Id": "<news.shop.test>"}))
        await drain(runtime)
    assert (await payload_states(runtime))[-2:] == ["ignored", "processed"]
    newsletter = (await messages(runtime))[-1]
    assert newsletter.metadata_["bulk"] is True and newsletter.metadata_["no_auto_reply"] is True
