"""The whole conversation over real SMTP: a customer writes, an agent answers through the API, the
customer's mail server receives a correctly threaded reply, and every answer finds the ticket."""

from __future__ import annotations

import httpx

from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.channels.email.e2e_support import (
    CUSTOMER,
    SUPPORT,
    bare,
    drain,
    email_channel,
    mail,
    messages,
    running_receiver,
    running_sink,
    send,
    tickets,
)
from tests.support.factories import Desk


async def test_agent_reply_threads_and_every_answer_finds_the_ticket(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    async with running_receiver(runtime) as receiver, running_sink() as sink:
        await email_channel(
            runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none", team_id=desk.support.id
        )
        await send(receiver.port, mail(subject="Где мой заказ?", message_id="<c1@customer.test>"))
        await drain(runtime)
        [ticket] = await tickets(runtime)

        reply = await client.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"text": "Добрый день! Заказ 1234 передан в доставку."},
            headers=desk.olga_h,
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["delivery_status"] == "queued"
        await drain(runtime)

        [sent] = sink.messages
        ours = sent.message
        assert (sent.mail_from, sent.rcpt_tos) == (SUPPORT, [CUSTOMER])
        assert ours["From"].addresses[0].addr_spec == SUPPORT
        assert ours["From"].addresses[0].display_name == "Shop support"
        assert str(ours["To"]) == CUSTOMER
        assert str(ours["Subject"]) == f"Re: [#{ticket.id}] Где мой заказ?"
        assert str(ours["In-Reply-To"]) == "<c1@customer.test>"
        assert str(ours["References"]) == "<c1@customer.test>"
        assert ours.get_body(preferencelist=("plain",)) is not None
        assert ours.get_body(preferencelist=("html",)) is not None
        [outbound] = await messages(runtime, Message.direction == "out")
        assert outbound.delivery_status == "sent"
        assert outbound.external_id == bare(str(ours["Message-ID"]))

        # The customer's client answers our mail: In-Reply-To names it.
        await send(
            receiver.port,
            mail(
                subject=f"Re: [#{ticket.id}] Где мой заказ?",
                message_id="<c2@customer.test>",
                in_reply_to=str(ours["Message-ID"]),
                references=["<c1@customer.test>", str(ours["Message-ID"])],
                body="Спасибо! А когда привезут?\n\n> Добрый день! Заказ 1234 передан в доставку.",
            ),
        )
        # A phone client that drops the headers: only the "[#N]" in the subject is left.
        await send(
            receiver.port,
            mail(
                subject=f"[#{ticket.id}] и ещё вопрос", message_id="<c3@customer.test>", body="Можно к двери?"
            ),
        )
        # Someone else typing the same number does not get into this customer's ticket.
        await send(
            receiver.port,
            mail(sender="stranger@other.test", subject=f"[#{ticket.id}] чужой", message_id="<x1@other.test>"),
        )
        await drain(runtime)

        all_tickets = await tickets(runtime)
        assert len(all_tickets) == 2
        thread = await messages(runtime, Message.ticket_id == ticket.id)
        assert [(m.direction, m.external_id) for m in thread] == [
            ("in", "c1@customer.test"),
            ("out", outbound.external_id),
            ("in", "c2@customer.test"),
            ("in", "c3@customer.test"),
        ]
        assert [m.metadata_.get("threaded_by") for m in thread if m.direction == "in"] == [
            "new",
            "reference",
            "subject_number",
        ]
        assert thread[2].text == "Спасибо! А когда привезут?"

        # The next reply answers the newest customer mail and carries the whole thread.
        again = await client.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"text": "Да, курьер позвонит."},
            headers=desk.olga_h,
        )
        assert again.status_code == 201
        await drain(runtime)
        second = sink.messages[-1].message
        assert str(second["In-Reply-To"]) == "<c3@customer.test>"
        assert str(second["References"]).split() == [
            "<c1@customer.test>",
            f"<{outbound.external_id}>",
            "<c2@customer.test>",
            "<c3@customer.test>",
        ]
        assert second["Message-ID"] != ours["Message-ID"]
