"""The process's visitor sockets and the one bus subscription that feeds them.

Each process holds one subscription (ticket events, agent activity, widget news) for all its
sockets, opened with the first socket and closed with the last, and routes each bus message in
memory: by visitor key for widget news, by ticket id for ticket events and agent typing. An
agent's reply reaches the visitor from its ``message_added`` event, read back from the database
(the row is the record; the bus only says where to look). Every socket has its own bounded
outbox and writer, so one slow browser never holds up the others; a socket that falls that far
behind is closed and reconnects, and its ``after_id`` refetch fills the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from opora.channels.webchat import history, messages, repository
from opora.channels.webchat.sessions import VisitorRef
from opora.collision.service import TOPIC as ACTIVITY_TOPIC
from opora.events.bus import Subscription
from opora.events.service import TICKET_TOPIC
from opora.kit.time import utcnow
from opora.runtime import Runtime

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 256
# Replies a socket remembers having written, for an old widget's read receipt (``shown_up_to``).
SHOWN_LIMIT = 1000
VISITOR_TYPING_SECONDS = 10
VISITOR_LABEL = "Посетитель / Visitor"

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Socket:
    """One visitor connection as the hub sees it."""

    def __init__(self, visitor: VisitorRef, send: Send, close: Callable[[], Awaitable[None]]) -> None:
        self.visitor = visitor
        self._send = send
        self._close = close
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._written = 0
        # Reply id -> number of the first written frame that carried it, oldest first.
        self._shown: dict[int, int] = {}

    def push(self, frame: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            # Far behind: better a reconnect (which refetches) than an ever-growing queue.
            self.close_soon()

    def close_soon(self) -> None:
        """Close after what is queued: the widget reconnects and refetches after its last id,
        which recovers whatever this socket may have missed."""
        with contextlib.suppress(asyncio.QueueFull):
            if self.outbox.full():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)

    async def write_forever(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None:
                await self._close()
                return
            await self._send(frame)
            self._note_written(frame)

    def _note_written(self, frame: dict[str, Any]) -> None:
        self._written += 1
        if frame.get("type") == "ready":
            carried = frame.get("messages") or []
        elif frame.get("type") == "message":
            carried = [frame.get("message")]
        else:
            return
        for message in carried:
            if isinstance(message, dict) and message.get("author") != "visitor":
                message_id = message.get("id")
                if isinstance(message_id, int):
                    self._shown.setdefault(message_id, self._written)
        while len(self._shown) > SHOWN_LIMIT:
            del self._shown[next(iter(self._shown))]

    def shown_up_to(self, up_to: int) -> list[int]:
        """The replies an old widget script's ``{"type": "read", "up_to": id}`` may mark read.

        That frame means "I show every reply up to this id", which ids cannot prove (a lower id
        may commit later). What is proven: the widget handles frames in order, so once it shows
        the reply ``up_to`` it has shown every reply this socket wrote before or with it. A reply
        still in the outbox, or written after, waits for a later receipt; an ``up_to`` this
        socket never wrote (the script got it on an earlier socket) marks nothing. A lost
        receipt costs at worst an e-mail copy of a reply the visitor saw; a false one, a reply
        never seen and never mailed.
        """
        carried_in = self._shown.get(up_to)
        if carried_in is None:
            return []
        return sorted(i for i, frame in self._shown.items() if frame <= carried_in and i <= up_to)


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._by_visitor: dict[str, set[Socket]] = {}
        self._visitors_of_ticket: dict[int, set[str]] = {}
        self._tickets_of_visitor: dict[str, set[int]] = {}
        self._ticket_info: dict[int, tuple[int | None, int | None]] = {}
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._by_visitor.values())

    async def join(self, socket: Socket) -> None:
        """Register a socket; once this returns, every later bus message for its visitor is
        delivered, and for its tickets once they are bound (``bind``)."""
        async with self._lock:
            if self._pump is None:
                self._subscription = await self.runtime.bus.open(TICKET_TOPIC, ACTIVITY_TOPIC, messages.TOPIC)
                self._pump = asyncio.create_task(self._pump_forever(self._subscription), name="webchat-hub")
            self._by_visitor.setdefault(socket.visitor.key, set()).add(socket)

    def bind(self, key: str, tickets: dict[int, tuple[int | None, int | None]]) -> None:
        """Route these tickets' events to the visitor's sockets. Called after ``join`` with
        tickets read after it, so that no ticket opened in between is missed."""
        if key not in self._by_visitor:
            return
        for ticket_id, info in tickets.items():
            self._bind(key, ticket_id, info)

    async def leave(self, socket: Socket) -> None:
        async with self._lock:
            key = socket.visitor.key
            sockets = self._by_visitor.get(key)
            if sockets is not None:
                sockets.discard(socket)
                if not sockets:
                    del self._by_visitor[key]
                    for ticket_id in self._tickets_of_visitor.pop(key, set()):
                        visitors = self._visitors_of_ticket.get(ticket_id, set())
                        visitors.discard(key)
                        if not visitors:
                            self._visitors_of_ticket.pop(ticket_id, None)
                            self._ticket_info.pop(ticket_id, None)
            if not self._by_visitor and self._pump is not None:
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pump
                self._pump = None
                if self._subscription is not None:
                    await self._subscription.aclose()
                    self._subscription = None

    def _bind(self, key: str, ticket_id: int, info: tuple[int | None, int | None]) -> None:
        self._visitors_of_ticket.setdefault(ticket_id, set()).add(key)
        self._tickets_of_visitor.setdefault(key, set()).add(ticket_id)
        self._ticket_info[ticket_id] = info

    def _to_visitor(self, key: str, frame: dict[str, Any]) -> None:
        for socket in self._by_visitor.get(key, ()):
            socket.push(frame)

    def _to_ticket(self, ticket_id: int, frame: dict[str, Any]) -> None:
        for key in self._visitors_of_ticket.get(ticket_id, ()):
            self._to_visitor(key, frame)

    async def _pump_forever(self, subscription: Subscription) -> None:
        while True:
            try:
                topic, message = await subscription.receive()
            except Exception:
                # The bus connection broke (a Redis restart, a dropped or killed connection):
                # whatever was published meanwhile is gone for this subscription.
                log.warning("webchat hub lost its bus subscription; its sockets reconnect", exc_info=True)
                await self._start_over(subscription)
                return
            try:
                self._dispatch(topic, message)
            except Exception:
                log.exception("webchat hub could not route a %s message", topic)

    async def _start_over(self, broken: Subscription) -> None:
        """Drop the broken subscription and close every socket. A widget reconnects at once and
        refetches after its last message (the one safety net that covers any gap), and the first
        socket to join again opens a fresh subscription."""
        async with self._lock:
            if self._subscription is broken:
                self._subscription = None
                self._pump = None
            for sockets in self._by_visitor.values():
                for socket in sockets:
                    socket.close_soon()
        with contextlib.suppress(Exception):
            await broken.aclose()

    def _dispatch(self, topic: str, message: dict[str, Any]) -> None:
        if topic == messages.TOPIC:
            key = message.get("visitor")
            if not isinstance(key, str) or key not in self._by_visitor:
                return
            if message.get("kind") == "stored":
                self._bind(
                    key, int(message["ticket_id"]), (message.get("team_id"), message.get("assignee_id"))
                )
                self._to_visitor(key, {"type": "message", "message": message["message"]})
            elif message.get("kind") == "read":
                self._to_visitor(key, {"type": "read", "message_ids": message.get("message_ids", [])})
            return
        ticket_id = message.get("ticket_id")
        if not isinstance(ticket_id, int) or ticket_id not in self._visitors_of_ticket:
            return
        if topic == TICKET_TOPIC:
            self._ticket_info[ticket_id] = (message.get("team_id"), message.get("assignee_id"))
            data = message.get("data") or {}
            if (
                message.get("kind") == "message_added"
                and data.get("direction") == "out"
                and not data.get("internal")
            ):
                self._spawn(self._deliver(ticket_id, int(data["message_id"])))
            elif message.get("kind") == "merged" and isinstance(data.get("merged_into_id"), int):
                for key in list(self._visitors_of_ticket[ticket_id]):
                    self._bind(key, data["merged_into_id"], (None, None))
        elif topic == ACTIVITY_TOPIC and message.get("state") == "typing" and not message.get("customer"):
            self._to_ticket(
                ticket_id,
                {"type": "typing", "name": message.get("agent_name") or "", "expires_in": 10},
            )

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, ticket_id: int, message_id: int) -> None:
        try:
            async with self.runtime.db.reader() as uow:
                rows = await repository.messages_by_id(uow.session, [message_id])
                shown = await history.widget_messages(uow, rows)
        except Exception:
            log.exception("webchat: reply %s could not be read for the live push", message_id)
            # Not pushed, so not to be lost: the visitors' sockets reconnect and refetch it.
            for key in self._visitors_of_ticket.get(ticket_id, ()):
                for socket in self._by_visitor.get(key, ()):
                    socket.close_soon()
            return
        for item in shown:
            self._to_ticket(ticket_id, {"type": "message", "message": item.model_dump(mode="json")})

    async def visitor_typing(self, visitor: VisitorRef) -> None:
        """Tell the agents on the visitor's latest conversation; nothing is stored."""
        tickets = self._tickets_of_visitor.get(visitor.key)
        if not tickets:
            return
        ticket_id = max(tickets)
        team_id, assignee_id = self._ticket_info.get(ticket_id, (None, None))
        # Shaped like an agent's activity (agent id 0 is nobody), so the agent UI's collision
        # line shows it without a change; "customer" keeps the hub from echoing it back.
        await self.runtime.bus.publish(
            ACTIVITY_TOPIC,
            {
                "ticket_id": ticket_id,
                "team_id": team_id,
                "assignee_id": assignee_id,
                "agent_id": 0,
                "agent_name": VISITOR_LABEL,
                "customer": True,
                "state": "typing",
                "at": utcnow().isoformat(),
                "expires_in": VISITOR_TYPING_SECONDS,
            },
        )
