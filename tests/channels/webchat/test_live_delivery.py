"""Nothing an agent answers may be lost on its way to the visitor's socket: every gap in live
delivery either cannot happen or ends in a reconnect whose refetch brings the reply."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from opora.channels.webchat import endpoints
from opora.channels.webchat.hub import Hub
from opora.events.bus import RedisBus, Subscription
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import DeliveryStatus, Direction, Message
from tests.channels.webchat.support import PUBLIC_KEY, AsgiSocket, Closed, session
from tests.support.factories import Desk

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


class Breakable(Subscription):
    """The memory bus never breaks by itself; this one breaks when told, as a Redis connection
    does, and raises what a broken Redis subscription raises."""

    def __init__(self, inner: Subscription) -> None:
        self.inner = inner
        self.broken = asyncio.Event()

    async def receive(self) -> tuple[str, dict[str, Any]]:
        got = asyncio.ensure_future(self.inner.receive())
        stop = asyncio.ensure_future(self.broken.wait())
        done, _ = await asyncio.wait({got, stop}, return_when=asyncio.FIRST_COMPLETED)
        if got in done:
            stop.cancel()
            return got.result()
        got.cancel()
        raise ConnectionError("the bus connection broke")

    async def aclose(self) -> None:
        await self.inner.aclose()


def breakable_bus(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[Breakable]:
    opened: list[Breakable] = []
    real_open = runtime.bus.open

    async def open_(topic: str, *more: str) -> Subscription:
        made = Breakable(await real_open(topic, *more))
        opened.append(made)
        return made

    monkeypatch.setattr(runtime.bus, "open", open_)
    return opened


async def break_hub_subscription(app: FastAPI, runtime: Runtime, opened: list[Breakable]) -> None:
    hub: Hub = app.state.webchat_hub
    if isinstance(runtime.bus, RedisBus):
        # The real thing: the hub's Redis connection drops under it.
        connection = hub._subscription.inner._pubsub.connection  # type: ignore[union-attr]
        await connection.disconnect()
    else:
        opened[-1].broken.set()


async def reply(http: httpx.AsyncClient, desk: Desk, ticket_id: int, text: str) -> None:
    r = await http.post(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h, json={"text": text})
    assert r.status_code == 201, r.text


async def until_closed(socket: AsgiSocket) -> list[dict[str, Any]]:
    """The frames the socket got before the server closed it (a timeout if it never does)."""
    frames = []
    while True:
        try:
            frames.append(await socket.receive(timeout=5))
        except Closed:
            return frames


async def test_a_broken_bus_subscription_closes_the_sockets_and_their_refetch_brings_what_was_missed(
    app: FastAPI,
    http: httpx.AsyncClient,
    chat: dict[str, Any],
    runtime: Runtime,
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = breakable_bus(runtime, monkeypatch)
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Где заказ?"})
        stored = (await socket.receive_types("ack", "message"))["message"]["message"]
        await break_hub_subscription(app, runtime, opened)
        await reply(http, desk, stored["ticket_id"], "Пока связь с шиной лежала")
        # Before: the hub's pump died quietly and this socket never heard of any reply again.
        frames = await until_closed(socket)
        assert all(f["type"] != "message" for f in frames)
    async with AsgiSocket(app) as socket:
        ready = await socket.hello(visitor["token"], after_id=stored["id"])
        assert [m["text"] for m in ready["messages"]] == ["Пока связь с шиной лежала"]
        # The hub subscribed again for the new socket: live delivery works as before.
        await reply(http, desk, stored["ticket_id"], "И снова вживую")
        assert (await socket.receive_type("message"))["message"]["text"] == "И снова вживую"


async def test_a_ticket_opened_while_a_socket_says_hello_still_routes_its_replies_to_it(
    app: FastAPI,
    http: httpx.AsyncClient,
    chat: dict[str, Any],
    runtime: Runtime,
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visitor = await session(http)
    real_hello = endpoints._hello

    async def hello_then_upload(*args: Any) -> Any:
        found = await real_hello(*args)
        # Between the socket's hello and its registration the visitor's first message opens a
        # ticket from elsewhere (an upload over HTTP here; another tab in another process alike).
        r = await http.post(
            "/widget/v1/upload",
            data={"channel": PUBLIC_KEY, "token": visitor["token"], "client_id": "f1", "text": "Фото"},
            files={"file": ("a.png", PNG, "image/png")},
        )
        assert r.status_code == 200, r.text
        return found

    monkeypatch.setattr(endpoints, "_hello", hello_then_upload)
    async with AsgiSocket(app) as socket:
        ready = await socket.hello(visitor["token"])
        assert [m["text"] for m in ready["messages"]] == ["Фото"]
        ticket_id = ready["messages"][0]["ticket_id"]
        await reply(http, desk, ticket_id, "Фото получили")
        assert (await socket.receive_type("message"))["message"]["text"] == "Фото получили"


async def test_a_reconnect_refetches_a_reply_that_committed_after_a_message_with_a_higher_id(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    if runtime.db.is_sqlite:
        pytest.skip("SQLite runs one writer at a time: ids are taken in commit order")
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Первый"})
        first = (await socket.receive_types("ack", "message"))["message"]["message"]
        # An agent's reply takes its id when it is inserted and commits a little later (the id
        # is drawn here on its own, so that the reply's row locks do not hold up the visitor) ...
        async with runtime.db.uow() as uow:
            late_id = int(await uow.session.scalar(text("SELECT nextval('messages_id_seq')")))
        late_at = utcnow()
        # ... while the visitor's next message commits with a higher id and shows live.
        await socket.send({"type": "message", "client_id": "m2", "text": "Второй"})
        second = (await socket.receive_types("ack", "message"))["message"]["message"]
        assert second["id"] > late_id
    async with runtime.db.uow() as uow:
        uow.session.add(
            Message(
                id=late_id,
                ticket_id=first["ticket_id"],
                direction=Direction.OUT,
                author_type="agent",
                author_agent_id=desk.olga.id,
                text="Ответ с меньшим id",
                channel_type="webchat",
                delivery_status=DeliveryStatus.QUEUED,
                created_at=late_at,
            )
        )
    # The socket dropped before the reply's live push; the widget's last id is the second message.
    async with AsgiSocket(app) as socket:
        ready = await socket.hello(visitor["token"], after_id=second["id"])
        assert "Ответ с меньшим id" in [m["text"] for m in ready["messages"]]
