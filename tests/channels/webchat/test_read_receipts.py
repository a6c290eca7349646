"""A read receipt marks only replies the widget has shown: a reply with a lower id that is not on
the screen yet (on PostgreSQL it may commit after a higher id) stays unread, so its e-mail copy
still goes (channels/webchat/mail.py skips the copy of a reply that is read)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opora.channels.webchat.hub import Socket
from opora.channels.webchat.receipts import MAX_READ_IDS
from opora.channels.webchat.sessions import VisitorRef
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import DeliveryStatus, Direction, Message
from tests.channels.webchat.support import AsgiSocket, session
from tests.support.factories import Desk


async def reply(http: httpx.AsyncClient, desk: Desk, ticket_id: int, text: str) -> int:
    r = await http.post(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h, json={"text": text})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def reply_not_pushed_yet(runtime: Runtime, ticket_id: int, agent_id: int, text: str) -> int:
    """A committed reply whose live push has not reached the socket: what a reply that took its
    id before another and committed after it looks like when that other one is on the screen.
    Written without its event, so nothing pushes it."""
    async with runtime.db.uow() as uow:
        row = Message(
            ticket_id=ticket_id,
            direction=Direction.OUT,
            author_type="agent",
            author_agent_id=agent_id,
            text=text,
            channel_type="webchat",
            delivery_status=DeliveryStatus.QUEUED,
            created_at=utcnow(),
        )
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def statuses(runtime: Runtime, *ids: int) -> dict[int, str]:
    async with runtime.db.reader() as uow:
        rows = await uow.session.execute(
            select(Message.id, Message.delivery_status).where(Message.id.in_(ids))
        )
        return {message_id: str(status) for message_id, status in rows.all()}


def receipt(kind: str, ids: list[int]) -> dict[str, Any]:
    # "up_to" is what widget scripts cached from before this change still send.
    return {"type": "read", "message_ids": ids} if kind == "ids" else {"type": "read", "up_to": max(ids)}


@pytest.mark.parametrize("kind", ["ids", "up_to"])
async def test_a_lower_id_reply_the_widget_has_not_shown_is_not_marked_read(
    kind: str, app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Где мой заказ?"})
        ticket_id = (await socket.receive_types("ack", "message"))["message"]["message"]["ticket_id"]
        hidden = await reply_not_pushed_yet(runtime, ticket_id, desk.olga.id, "Ответ в пути")
        shown = await reply(http, desk, ticket_id, "Заказ у курьера")
        assert (await socket.receive_type("message"))["message"]["id"] == shown > hidden
        await socket.send(receipt(kind, [shown]))
        assert (await socket.receive_type("read"))["message_ids"] == [shown]
    # Before: "every reply up to the shown id" made the hidden one read, and its mail was skipped.
    assert await statuses(runtime, hidden, shown) == {hidden: "queued", shown: "read"}

    # Once it is on the screen (a reconnect's refetch brings it) it is read like any other.
    async with AsgiSocket(app) as socket:
        ready = await socket.hello(visitor["token"], after_id=shown if kind == "ids" else 0)
        assert hidden in [m["id"] for m in ready["messages"]]
        await socket.send(receipt(kind, [hidden] if kind == "ids" else [hidden, shown]))
        assert (await socket.receive_type("read"))["message_ids"] == [hidden]
    assert await statuses(runtime, hidden, shown) == {hidden: "read", shown: "read"}


async def test_a_read_frame_takes_a_bounded_list_of_ids_and_ignores_other_visitors_replies(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    owner, stranger = await session(http), await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(owner["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Здравствуйте"})
        ticket_id = (await socket.receive_types("ack", "message"))["message"]["message"]["ticket_id"]
        answer = await reply(http, desk, ticket_id, "Добрый день!")
        await socket.receive_type("message")
    async with AsgiSocket(app) as socket:
        await socket.hello(stranger["token"])
        too_many = list(range(answer, answer + MAX_READ_IDS + 1))
        for bad in (str(answer), answer, [True], [float(answer)], [str(answer)], [0], [-answer], too_many):
            await socket.send({"type": "read", "message_ids": bad})
            error = await socket.receive_type("error")
            assert (error["code"], error["field"]) == ("invalid", "message_ids"), bad
        # Someone else's reply and an id of nothing: ignored, no receipt, nothing changed.
        await socket.send({"type": "read", "message_ids": [answer, answer + 10_000]})
        await socket.send({"type": "read", "up_to": answer})
        await socket.send({"type": "ping"})
        frame = await socket.receive()
        while frame["type"] == "typing":
            frame = await socket.receive()
        assert frame["type"] == "pong"
    # Sent on commit (chat replies need no delivery job, ADR 0036), and still not read.
    assert await statuses(runtime, answer) == {answer: "sent"}


def agent_message(message_id: int, author: str = "agent") -> dict[str, Any]:
    return {"id": message_id, "author": author, "text": "…"}


async def test_an_old_widgets_up_to_covers_only_replies_the_socket_wrote_before_or_with_it() -> None:
    written: list[dict[str, Any]] = []

    async def send(frame: dict[str, Any]) -> None:
        written.append(frame)

    async def close() -> None:
        return None

    socket = Socket(VisitorRef(1, "v1", "hash", 1), send, close)
    socket.push({"type": "ready", "messages": [agent_message(5), agent_message(6, "visitor")]})
    socket.push({"type": "message", "message": agent_message(9)})
    # A reply with a lower id, written after the widget may already have answered "up to 9".
    socket.push({"type": "message", "message": agent_message(7)})
    socket.push({"type": "ack", "client_id": "m1", "duplicate": False})
    socket.close_soon()
    await socket.write_forever()
    assert len(written) == 4
    assert socket.shown_up_to(9) == [5, 9]
    assert socket.shown_up_to(7) == [5, 7]
    assert socket.shown_up_to(5) == [5]
    # The visitor's own message, and an id this socket never wrote (an earlier socket did).
    assert socket.shown_up_to(6) == []
    assert socket.shown_up_to(8) == []
