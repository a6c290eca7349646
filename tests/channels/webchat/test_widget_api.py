"""The widget's session, WebSocket and upload endpoints against the real app and database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from opora.agents.models import Calendar, Team
from opora.channels.webchat.identity import sign
from opora.customers.models import Customer, CustomerIdentity
from opora.events.models import TicketEvent
from opora.inbox import service as inbox_service
from opora.inbox.batch import Ingested
from opora.inbox.models import InboundPayload
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket, TicketTag
from tests.channels.webchat.conftest import set_presence
from tests.channels.webchat.support import PUBLIC_KEY, SECRET, AsgiSocket, Closed, drain, session
from tests.support.factories import Desk

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_new_visitor_gets_a_token_the_look_of_the_channel_and_no_history(
    http: httpx.AsyncClient, chat: dict[str, Any]
) -> None:
    first = await session(http, language="en-GB")
    assert first["token"] and first["visitor"].startswith("v")
    assert first["language"] == "en"
    assert first["settings"]["greeting"] == "Hi! How can we help?"
    assert first["settings"]["color"] == "#0a7d32"
    assert "identity_secret" not in json.dumps(first)
    assert (first["offline"], first["identity"], first["messages"]) == (None, "none", [])
    again = await session(http, token=first["token"], language="ru")
    assert (again["token"], again["visitor"], again["language"]) == (first["token"], first["visitor"], "ru")
    stranger = await session(http, token="x" * 32)
    assert stranger["visitor"] != first["visitor"]


async def test_an_unknown_channel_is_refused_readably_from_another_origin(http: httpx.AsyncClient) -> None:
    r = await http.post("/widget/v1/session", content=json.dumps({"channel": "nope-nope"}))
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.json()["error"]["code"] == "not_found"


async def test_a_message_is_acknowledged_once_stored_becomes_a_ticket_and_shows_in_every_tab(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    visitor = await session(http, language="ru")
    async with AsgiSocket(app) as tab1, AsgiSocket(app) as tab2:
        assert (await tab1.hello(visitor["token"]))["messages"] == []
        await tab2.hello(visitor["token"])
        await tab1.send({"type": "message", "client_id": "m1", "text": "Здравствуйте, где мой заказ?"})
        frames = await tab1.receive_types("ack", "message")
        assert frames["ack"] == {"type": "ack", "client_id": "m1", "duplicate": False}
        # Acknowledged means committed, raw payload and ticket message together (processed in
        # the storing transaction): no inbox job is left to run.
        assert await count(runtime, InboundPayload, InboundPayload.state == "processed") == 1
        assert await count(runtime, Message) == 1
        assert await count(runtime, Job, Job.task == "inbox.process") == 0
        for stored in (frames["message"]["message"], (await tab2.receive_type("message"))["message"]):
            assert (stored["author"], stored["client_id"], stored["text"]) == (
                "visitor",
                "m1",
                "Здравствуйте, где мой заказ?",
            )
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        assert (ticket.channel_type, ticket.team_id) == ("webchat", desk.support.id)
        identity = (await uow.session.scalars(select(CustomerIdentity))).one()
        assert (identity.kind, identity.value, identity.customer_id) == (
            "webchat",
            visitor["visitor"],
            ticket.customer_id,
        )
    history = (await session(http, token=visitor["token"]))["messages"]
    assert [m["text"] for m in history] == ["Здравствуйте, где мой заказ?"]


async def test_a_resent_message_is_stored_once_and_a_second_message_joins_the_same_ticket(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime
) -> None:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Раз"})
        assert (await socket.receive_type("ack"))["duplicate"] is False
        # The network dropped the ack; the widget resends after reconnecting.
        await socket.send({"type": "message", "client_id": "m1", "text": "Раз"})
        assert (await socket.receive_type("ack"))["duplicate"] is True
        await socket.send({"type": "message", "client_id": "m2", "text": "Два"})
        await socket.receive_type("ack")
    await drain(runtime)
    assert await count(runtime, InboundPayload) == 2
    assert await count(runtime, Message) == 2
    assert await count(runtime, Ticket) == 1


async def test_an_agent_reply_reaches_the_socket_live_and_the_visitor_reads_it(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Помогите"})
        stored = (await socket.receive_types("ack", "message"))["message"]["message"]
        await drain(runtime)
        r = await http.post(
            f"/api/v1/tickets/{stored['ticket_id']}/activity", headers=desk.olga_h, json={"state": "typing"}
        )
        assert r.status_code == 202, r.text
        assert (await socket.receive_type("typing"))["name"] == "Olga"
        r = await http.post(
            f"/api/v1/tickets/{stored['ticket_id']}/messages",
            headers=desk.olga_h,
            json={"text": "Уже смотрю!"},
        )
        assert r.status_code == 201, r.text
        reply = (await socket.receive_type("message"))["message"]
        assert (reply["author"], reply["text"], reply["agent_name"], reply["agent_initials"]) == (
            "agent",
            "Уже смотрю!",
            "Olga",
            "O",
        )
        await drain(runtime)  # the delivery job marks it sent
        await socket.send({"type": "read", "message_ids": [reply["id"]]})
        assert (await socket.receive_type("read"))["message_ids"] == [reply["id"]]
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, reply["id"])
        assert message is not None and message.delivery_status == "read"
        kinds = (
            await uow.session.scalars(select(TicketEvent.data).where(TicketEvent.kind == "message_delivery"))
        ).all()
        assert {"message_id": reply["id"], "status": "read", "error": None} in kinds
    # A reconnect after missing it fetches what came after the last id the widget has.
    async with AsgiSocket(app) as socket:
        ready = await socket.hello(visitor["token"], after_id=stored["id"])
        assert [m["text"] for m in ready["messages"]] == ["Уже смотрю!"]


async def test_visitor_typing_reaches_the_agents_activity_topic(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime
) -> None:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Привет"})
        stored = (await socket.receive_types("ack", "message"))["message"]["message"]
        await drain(runtime)
        async with await runtime.bus.open("activity") as activity:
            await socket.send({"type": "typing"})
            frame = await asyncio.wait_for(activity.__anext__(), 5)
        assert (frame["ticket_id"], frame["state"], frame["customer"]) == (
            stored["ticket_id"],
            "typing",
            True,
        )


async def test_a_signed_identity_merges_the_visitor_into_the_shops_customer(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    r = await http.post(
        "/api/v1/customers",
        headers=desk.admin_h,
        json={"name": "Иван Петров", "identities": [{"kind": "email", "value": "ivan@example.com"}]},
    )
    assert r.status_code == 201, r.text
    ivan = r.json()["id"]
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Анонимно"})
        await socket.receive_type("ack")
    await drain(runtime)
    claim = {"id": "1001", "email": "Ivan@Example.com", "signature": sign(SECRET, "1001", "ivan@example.com")}
    signed = await session(http, token=visitor["token"], identity=claim)
    assert signed["identity"] == "verified"
    assert [m["text"] for m in signed["messages"]] == ["Анонимно"]
    async with runtime.db.uow() as uow:
        ticket = (await uow.session.scalars(select(Ticket))).one()
        assert ticket.customer_id == ivan
        kinds = {
            (i.kind, i.value)
            for i in (
                await uow.session.scalars(
                    select(CustomerIdentity).where(CustomerIdentity.customer_id == ivan)
                )
            ).all()
        }
        assert kinds == {("email", "ivan@example.com"), ("shop", "1001"), ("webchat", visitor["visitor"])}


@pytest.mark.parametrize(
    "claim",
    [
        {"email": "ivan@example.com"},
        {"email": "ivan@example.com", "signature": "0" * 64},
        {"email": "ivan@example.com", "signature": sign("wrong-secret-0123456", "", "ivan@example.com")},
        {"id": "1002", "email": "ivan@example.com", "signature": sign(SECRET, "1001", "ivan@example.com")},
    ],
)
async def test_an_unsigned_or_badly_signed_identity_is_ignored(
    http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk, claim: dict[str, str]
) -> None:
    r = await http.post(
        "/api/v1/customers",
        headers=desk.admin_h,
        json={"identities": [{"kind": "email", "value": "ivan@example.com"}]},
    )
    assert r.status_code == 201
    before = await count(runtime, CustomerIdentity)
    visitor = await session(http, identity=claim)
    assert visitor["identity"] == "ignored"
    assert await count(runtime, CustomerIdentity) == before
    assert await count(runtime, Customer, Customer.merged_into_id.is_not(None)) == 0


async def test_uploads_are_checked_for_size_and_type_and_stored_as_attachments(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime
) -> None:
    visitor = await session(http)

    async def upload(name: str, content_type: str, data: bytes, client_id: str) -> httpx.Response:
        return await http.post(
            "/widget/v1/upload",
            data={"channel": PUBLIC_KEY, "token": visitor["token"], "client_id": client_id},
            files={"file": (name, data, content_type)},
        )

    too_big = await upload("big.png", "image/png", PNG + b"\x00" * 2000, "f1")
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "too_large")
    assert too_big.headers["access-control-allow-origin"] == "*"
    assert (await upload("x.svg", "image/svg+xml", b"<svg/>", "f2")).status_code == 422
    assert (await upload("fake.png", "image/png", b"GIF89a" + b"\x00" * 10, "f3")).status_code == 422
    assert (await upload("../../etc/photo.png", "image/png", PNG, "f4")).status_code == 200
    bad_token = await http.post(
        "/widget/v1/upload",
        data={"channel": PUBLIC_KEY, "token": "y" * 32, "client_id": "f5"},
        files={"file": ("a.png", PNG, "image/png")},
    )
    assert bad_token.status_code == 401
    assert await count(runtime, InboundPayload) == 1
    await drain(runtime)
    async with runtime.db.uow() as uow:
        stored = (await uow.session.scalars(select(Attachment))).one()
        assert (stored.filename, stored.content_type, stored.size) == ("photo.png", "image/png", len(PNG))
    [message] = (await session(http, token=visitor["token"]))["messages"]
    file = message["files"][0]
    r = await http.get(file["url"])
    assert (r.status_code, r.content, r.headers["x-content-type-options"]) == (200, PNG, "nosniff")
    assert (await http.get(file["url"].rsplit("/", 1)[0] + "/" + "0" * 64)).status_code == 404


async def test_offline_mode_outside_hours_or_without_agents_records_the_email(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    await set_presence(runtime, desk.olga.id, "offline")
    assert (await session(http))["offline"] == "no_agents"
    await set_presence(runtime, desk.olga.id, "online")
    async with runtime.db.uow() as uow:
        closed = Calendar(name="Никогда", timezone="Europe/Moscow", weekly_hours={}, holiday_country=None)
        uow.session.add(closed)
        await uow.session.flush()
        team = await uow.session.get(Team, desk.support.id)
        assert team is not None
        team.calendar_id = closed.id
    visitor = await session(http)
    assert visitor["offline"] == "closed"
    async with AsgiSocket(app) as socket:
        assert (await socket.hello(visitor["token"]))["offline"] == "closed"
        await socket.send(
            {"type": "message", "client_id": "m1", "text": "Ответьте письмом", "email": "Ivan@Example.com"}
        )
        await socket.receive_type("ack")
        await socket.send({"type": "message", "client_id": "m2", "text": "x", "email": "not-an-email"})
        error = await socket.receive_type("error")
        assert (error["client_id"], error["code"]) == ("m2", "invalid")
    await drain(runtime)
    assert (await session(http, token=visitor["token"]))["email"] == "ivan@example.com"
    async with runtime.db.uow() as uow:
        message = (await uow.session.scalars(select(Message))).one()
        assert message.metadata_["reply_email"] == "ivan@example.com"
        assert message.metadata_["offline"] is True
        # Not verified, so it never becomes an identity that could link two people's records.
        assert (await uow.session.scalars(select(CustomerIdentity.kind))).all() == ["webchat"]


async def test_talk_to_a_person_tags_the_conversation_even_before_the_first_message(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime
) -> None:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "human"})
        assert (await socket.receive_type("human"))["ticket_id"] is None
        await socket.send({"type": "message", "client_id": "m1", "text": "Хочу к человеку"})
        await socket.receive_type("ack")
        await drain(runtime)
    assert await count(runtime, TicketTag, TicketTag.tag == "human_requested") == 1


async def test_a_socket_without_a_valid_hello_is_closed(app: FastAPI, chat: dict[str, Any]) -> None:
    async with AsgiSocket(app) as socket:
        await socket.send({"type": "hello", "channel": PUBLIC_KEY, "token": "z" * 32})
        assert (await socket.receive())["type"] == "error"
        with pytest.raises(Closed) as closed:
            await socket.receive()
        assert closed.value.code == 4401


async def test_a_message_whose_inline_processing_fails_is_still_acknowledged_and_left_to_the_job(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime
) -> None:
    async def broken(uow: Any, runtime: Runtime, ingested: list[Ingested]) -> None:
        raise RuntimeError("a later stage is broken")

    visitor = await session(http)
    inbox_service.inbound_hooks.append(broken)
    try:
        async with AsgiSocket(app) as socket:
            await socket.hello(visitor["token"])
            await socket.send({"type": "message", "client_id": "m1", "text": "Алло?"})
            assert (await socket.receive_type("ack"))["duplicate"] is False
            # Stored once with its job, nothing half-processed.
            assert await count(runtime, InboundPayload, InboundPayload.state == "received") == 1
            assert await count(runtime, Message) == 0
            assert await count(runtime, Job, Job.task == "inbox.process", Job.state == "queued") == 1
            await socket.send({"type": "message", "client_id": "m1", "text": "Алло?"})
            assert (await socket.receive_type("ack"))["duplicate"] is True
    finally:
        inbox_service.inbound_hooks.remove(broken)
    await drain(runtime)
    assert await count(runtime, Message) == 1
    assert await count(runtime, InboundPayload, InboundPayload.state == "processed") == 1


async def test_with_inline_processing_off_the_message_goes_through_the_inbox_job(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    r = await http.patch(
        f"/api/v1/channels/{chat['id']}", json={"settings": {"process_inline": False}}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    bad = await http.patch(
        f"/api/v1/channels/{chat['id']}", json={"settings": {"process_inline": "yes"}}, headers=desk.admin_h
    )
    assert bad.status_code == 422
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Через очередь"})
        await socket.receive_type("ack")
        assert await count(runtime, Message) == 0
        assert await drain(runtime) >= 1
        assert (await socket.receive_type("message"))["message"]["text"] == "Через очередь"
