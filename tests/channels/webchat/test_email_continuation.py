"""Offline mode keeps its promise: a chat reply reaches a visitor who left by e-mail (real SMTP on
loopback, both ways), the visitor's mailed answer lands on the same ticket, and the address
joins the visitor's customer record."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opora.channels.webchat.models import WebchatEmailCopy
from opora.customers.models import CustomerIdentity
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.channels.email.e2e_support import (
    SUPPORT,
    bare,
    email_channel,
    mail,
    running_receiver,
    running_sink,
    send,
)
from tests.channels.webchat.conftest import set_presence
from tests.channels.webchat.support import AsgiSocket, drain, session
from tests.channels.whatsapp.support import make_jobs_due
from tests.support.factories import Desk, session_for

VISITOR = "ivan@customer.test"


async def offline_visitor_writes(app: FastAPI, http: httpx.AsyncClient, text: str) -> dict[str, Any]:
    visitor = await session(http, language="ru")
    assert visitor["offline"] == "no_agents"
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": text, "email": VISITOR})
        await socket.receive_type("ack")
    return visitor


async def reply(http: httpx.AsyncClient, desk: Desk, ticket_id: int, text: str) -> int:
    r = await http.post(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h, json={"text": text})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def copy_of(runtime: Runtime, message_id: int) -> tuple[WebchatEmailCopy, dict[str, Any]]:
    async with runtime.db.uow() as uow:
        copy = (
            await uow.session.scalars(
                select(WebchatEmailCopy).where(WebchatEmailCopy.message_id == message_id)
            )
        ).one()
        message = await uow.session.get(Message, message_id)
        assert message is not None
        return copy, dict(message.metadata_["email_copy"])


async def test_a_reply_to_an_offline_visitor_goes_by_mail_and_the_mailed_answer_continues_the_chat(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    async with running_receiver(runtime) as receiver, running_sink() as sink:
        await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
        await set_presence(runtime, desk.olga.id, "offline")
        visitor = await offline_visitor_writes(app, http, "Где мой заказ 1234? Ответьте на почту.")
        await drain(runtime)
        async with runtime.db.uow() as uow:
            ticket = (await uow.session.scalars(select(Ticket))).one()
            chat_customer = ticket.customer_id

        first = await reply(http, desk, ticket.id, "Заказ 1234 передан в доставку, будет завтра.")
        await drain(runtime)
        assert sink.messages == []  # the visitor may still be on the page: a short grace first
        await make_jobs_due(runtime)
        await drain(runtime)
        [sent] = sink.messages
        ours = sent.message
        assert (sent.mail_from, sent.rcpt_tos) == (SUPPORT, [VISITOR])
        assert f"[#{ticket.id}]" in str(ours["Subject"])
        body = ours.get_body(preferencelist=("plain",))
        assert body is not None and "Заказ 1234 передан в доставку" in body.get_content()
        assert "ответьте на это письмо" in body.get_content()
        copy, shown = await copy_of(runtime, first)
        assert (copy.status, copy.address, copy.mail_id) == ("sent", VISITOR, bare(str(ours["Message-ID"])))
        assert shown == {"to": VISITOR, "status": "sent", "error": None}

        # The agent's timeline says where the reply went.
        cookie, _ = await session_for(runtime, desk.olga)
        page = await http.get(f"/tickets/{ticket.id}", headers={"Cookie": f"opora_session={cookie}"})
        assert page.status_code == 200
        assert f"по e-mail на {VISITOR}: sent" in page.text  # the agent works in Russian

        # The visitor answers from their mail client: In-Reply-To names our mail.
        await send(
            receiver.port,
            mail(
                sender=VISITOR,
                subject=f"Re: {ours['Subject']}",
                message_id="<answer1@customer.test>",
                in_reply_to=str(ours["Message-ID"]),
                references=[str(ours["Message-ID"])],
                body="Спасибо! Можно доставить после 18:00?",
            ),
            sender=VISITOR,
        )
        await drain(runtime)
        async with runtime.db.uow() as uow:
            assert [t.id for t in (await uow.session.scalars(select(Ticket))).all()] == [ticket.id]
            answer = (
                await uow.session.scalars(
                    select(Message).where(Message.external_id == "answer1@customer.test")
                )
            ).one()
            assert (answer.ticket_id, answer.channel_type, answer.metadata_["threaded_by"]) == (
                ticket.id,
                "email",
                "reference",
            )
            # The answer proves the address: it is now an identity of the visitor's customer.
            assert answer.author_customer_id == chat_customer
            kinds = (
                await uow.session.scalars(
                    select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == chat_customer)
                )
            ).all()
            assert sorted(kinds) == ["email", "webchat"]

        # The widget shows the mailed answer in the visitor's history.
        history = await session(http, token=visitor["token"])
        assert [m["text"] for m in history["messages"]][-1] == "Спасибо! Можно доставить после 18:00?"

        # The next reply follows the visitor to mail at once, threaded under their answer.
        second = await reply(http, desk, ticket.id, "Да, курьер приедет после 18:00.")
        await drain(runtime)
        assert len(sink.messages) == 2
        again = sink.messages[1].message
        assert str(again["In-Reply-To"]) == "<answer1@customer.test>"
        assert str(ours["Message-ID"]) in str(again["References"])
        assert (await copy_of(runtime, second))[0].status == "sent"


async def test_a_refused_mail_is_a_visible_failure_and_a_reply_read_in_the_chat_is_not_mailed(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    async with running_sink() as sink:
        await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
        await set_presence(runtime, desk.olga.id, "offline")
        visitor = await offline_visitor_writes(app, http, "Напишите мне")
        await drain(runtime)
        async with runtime.db.uow() as uow:
            ticket = (await uow.session.scalars(select(Ticket))).one()

        sink.answer = "550 5.1.1 mailbox unavailable"
        refused = await reply(http, desk, ticket.id, "Ответ, который не дойдёт")
        await make_jobs_due(runtime)
        await drain(runtime)
        copy, shown = await copy_of(runtime, refused)
        assert copy.status == "failed" and "550" in (copy.error or "")
        assert shown["status"] == "failed" and "550" in shown["error"]
        assert sink.messages == []

        # The visitor is back in the chat and reads the next reply before its mail would go.
        sink.answer = None
        async with AsgiSocket(app) as socket:
            await socket.hello(visitor["token"])
            read = await reply(http, desk, ticket.id, "Видим вас в чате")
            await socket.receive_type("message")
            await socket.send({"type": "read", "message_ids": [read]})
            await socket.receive_type("read")
        await make_jobs_due(runtime)
        await drain(runtime)
        assert (await copy_of(runtime, read))[0].status == "skipped"
        assert sink.messages == []


async def test_a_visitor_who_wrote_offline_but_reads_the_reply_in_the_chat_gets_no_mail_copy(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    async with running_sink() as sink:
        await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
        await set_presence(runtime, desk.olga.id, "offline")
        visitor = await session(http, language="ru")
        async with AsgiSocket(app) as socket:
            await socket.hello(visitor["token"])
            await socket.send({"type": "message", "client_id": "m1", "text": "Жду ответа", "email": VISITOR})
            ticket_id = (await socket.receive_types("ack", "message"))["message"]["message"]["ticket_id"]
            # An agent comes online and answers while the visitor is still on the page.
            answer = await reply(http, desk, ticket_id, "Уже здесь, отвечаю")
            # The worker runs as soon as the reply commits, before the widget can say "read".
            await drain(runtime)
            await socket.receive_type("message")
            await socket.send({"type": "read", "message_ids": [answer]})
            await socket.receive_type("read")
        await make_jobs_due(runtime)
        await drain(runtime)
        # Before: the mail had gone at once, and the visitor got the same answer twice.
        assert sink.messages == []
        assert (await copy_of(runtime, answer))[0].status == "skipped"


async def test_without_an_email_channel_the_copy_fails_visibly_and_without_an_address_nothing_is_planned(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    await set_presence(runtime, desk.olga.id, "offline")
    await offline_visitor_writes(app, http, "Есть кто?")
    await drain(runtime)
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
    message_id = await reply(http, desk, ticket.id, "Здравствуйте!")
    copy, shown = await copy_of(runtime, message_id)
    assert copy.status == "failed" and shown["error"] == "no active e-mail channel to send the reply from"

    # An anonymous visitor who left no address: the reply simply waits in the widget.
    await set_presence(runtime, desk.olga.id, "online")
    anonymous = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(anonymous["token"])
        await socket.send({"type": "message", "client_id": "a1", "text": "Привет"})
        await socket.receive_type("ack")
    await drain(runtime)
    async with runtime.db.uow() as uow:
        other = (await uow.session.scalars(select(Ticket).where(Ticket.id != ticket.id))).one()
    plain = await reply(http, desk, other.id, "Привет!")
    async with runtime.db.uow() as uow:
        assert (
            await uow.session.scalars(select(WebchatEmailCopy).where(WebchatEmailCopy.message_id == plain))
        ).first() is None
