"""GET /api/v1/stream: live updates for the agent UI, as Server-Sent Events.

One connection per browser carries three bus topics: ticket events (SSE ``event:`` is the
event's kind), the agent's own notifications (``event: notification``) and other agents'
activity on tickets (``event: activity``, collision detection).

The stream only notifies; the event rows stay the record. A client that reconnects (network
blip, a process restart, the stream's maximum age) refetches what it shows, so nothing depends
on every notification arriving.

Rules of the stream:

* The caller authenticates once, in a short transaction of its own; the stream then holds no
  database connection, however long it stays open. Team memberships are read at that moment,
  so a changed membership or a revoked token takes effect at the next reconnect, at the latest
  after ``MAX_STREAM_SECONDS``.
* Each ticket event and activity message carries the ticket's team and assignee; it reaches an
  agent only if ``can_see_ticket`` allows it. Activity never echoes back to its own agent, and a
  notification reaches only the agent it names.
* The bus subscription is live before the response starts (``EventBus.open`` returns only then),
  so an event committed as soon as the client sees the headers is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from opora.auth.deps import RuntimeDep, current_principal
from opora.auth.permissions import Principal, can_see_ticket
from opora.collision.service import TOPIC as ACTIVITY_TOPIC
from opora.events.bus import EventBus, Subscription
from opora.events.service import TICKET_TOPIC
from opora.kit.errors import AppError
from opora.notifications.service import TOPIC as NOTIFICATION_TOPIC
from opora.runtime import Runtime

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["events"])

# Proxies and load balancers close connections that stay silent for about a minute.
HEARTBEAT_SECONDS = 15.0
# Bounds how long a stream outlives a revoked token or a team change; the browser reconnects.
MAX_STREAM_SECONDS = 30 * 60.0
# How long the browser waits before reconnecting after the stream ends.
RETRY_MILLISECONDS = 3000
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
# A client that stops reading loses the oldest notifications instead of growing memory.
BUFFER_LIMIT = 1000

_HEARTBEAT = b": ping\n\n"


class LiveUpdatesUnavailable(AppError):
    status_code = 503
    code = "live_updates_unavailable"


@router.get(
    "/stream",
    response_class=Response,
    responses={
        200: {
            "description": "An endless `text/event-stream`. Ticket events: `id` is the event id, "
            "`event` its kind, `data` the event as JSON (ticket_id, kind, actor, data, created_at, "
            "team_id, assignee_id). `event: notification`: the caller's own notification "
            "(type created or read). `event: activity`: another agent viewing, typing on or leaving "
            "a ticket the caller may see (ticket_id, agent_id, agent_name, state, at, expires_in).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        401: {"description": "No valid session cookie or API token."},
        503: {"description": "The event bus does not answer."},
    },
)
async def stream(request: Request, runtime: RuntimeDep) -> Response:
    """Ticket events, notifications and activity for the caller, from the moment of connecting."""
    principal = await _authenticate(request, runtime)
    return TicketEventStream(
        runtime.bus, principal, heartbeat_seconds=HEARTBEAT_SECONDS, max_seconds=MAX_STREAM_SECONDS
    )


async def _authenticate(request: Request, runtime: Runtime) -> Principal:
    # Not the request's unit of work: that one would stay open until the response starts, that is
    # through the bus handshake. This one returns its connection to the pool as soon as the
    # caller is known, and the request's unit of work is never opened at all.
    async with runtime.db.uow() as uow:
        return await current_principal(request, uow)


class TicketEventStream(Response):
    """An ASGI response that subscribes to the bus before it sends its first byte."""

    media_type = "text/event-stream"

    def __init__(
        self, bus: EventBus, principal: Principal, *, heartbeat_seconds: float, max_seconds: float
    ) -> None:
        # No Response.__init__: it would render a body and announce its length.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._bus = bus
        self._principal = principal
        self._heartbeat = heartbeat_seconds
        self._max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                subscription = await self._bus.open(TICKET_TOPIC, NOTIFICATION_TOPIC, ACTIVITY_TOPIC)
        except Exception as exc:  # whatever the backend raises when it cannot reach its server
            raise LiveUpdatesUnavailable("The event bus does not answer; try again later.") from exc
        inbox: asyncio.Queue[bytes] = asyncio.Queue(BUFFER_LIMIT)
        pump = asyncio.create_task(self._pump(subscription, inbox), name="opora-stream-pump")
        watcher: asyncio.Task[None] | None = None
        writer: asyncio.Task[None] | None = None
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            await send(_body(f"retry: {RETRY_MILLISECONDS}\n: connected\n\n".encode()))
            watcher = asyncio.create_task(_wait_for_disconnect(receive), name="opora-stream-watcher")
            writer = asyncio.create_task(self._write(inbox, send), name="opora-stream-writer")
            done, _ = await asyncio.wait({pump, watcher, writer}, return_when=asyncio.FIRST_COMPLETED)
            if watcher not in done and not _raised(writer, OSError):
                # The subscription ended or the stream reached its age: finish the response
                # properly so that the browser reconnects.
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await _stop(pump, watcher, writer)

    async def _pump(self, subscription: Subscription, inbox: asyncio.Queue[bytes]) -> None:
        try:
            while True:
                topic, message = await subscription.receive()
                frame = frame_for(self._principal, topic, message)
                if frame is not None:
                    if inbox.full():
                        inbox.get_nowait()
                    inbox.put_nowait(frame)
        finally:
            # Unsubscribe now rather than whenever the object is garbage-collected.
            await subscription.aclose()

    async def _write(self, inbox: asyncio.Queue[bytes], send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_seconds
        while (left := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(self._heartbeat, left)):
                    frame = await inbox.get()
            except TimeoutError:
                if left > self._heartbeat:  # silent for a heartbeat, not at the end of its age
                    await send(_body(_HEARTBEAT))
                continue
            await send(_body(frame))


def frame_for(principal: Principal, topic: str, message: dict[str, Any]) -> bytes | None:
    """The SSE frame ``principal`` gets for a bus message, or None when it is not theirs to see."""
    if topic == TICKET_TOPIC:
        return encode_event(message) if _visible(principal, message) else None
    if topic == NOTIFICATION_TOPIC:
        mine = _is_id(message.get("agent_id")) and message["agent_id"] == principal.agent_id
        return encode_frame("notification", message) if mine else None
    if topic == ACTIVITY_TOPIC:
        # An agent's own activity would warn it about itself, in its other tabs too.
        others = _is_id(message.get("agent_id")) and message["agent_id"] != principal.agent_id
        return encode_frame("activity", message) if others and _visible(principal, message) else None
    return None


def _visible(principal: Principal, message: dict[str, Any]) -> bool:
    if not _is_id(message.get("ticket_id")):
        return False
    team_id = message.get("team_id")
    assignee_id = message.get("assignee_id")
    return can_see_ticket(
        principal,
        team_id=team_id if _is_id(team_id) else None,
        assignee_id=assignee_id if _is_id(assignee_id) else None,
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode_event(message: dict[str, Any]) -> bytes:
    """A ticket event's frame: ``id`` lets the browser report where it was, ``event`` selects the
    listener."""
    kind = message.get("kind")
    return encode_frame(
        kind if isinstance(kind, str) else None, message, message["id"] if _is_id(message.get("id")) else None
    )


def encode_frame(event: str | None, message: dict[str, Any], frame_id: int | None = None) -> bytes:
    lines = []
    if frame_id is not None:
        lines.append(f"id: {frame_id}")
    if event:
        lines.append("event: " + " ".join(event.splitlines()))
    # json.dumps escapes newlines inside strings, so the data is always one line.
    lines.append("data: " + json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n\n").encode()


def _body(chunk: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


def _raised(task: asyncio.Task[None], kind: type[BaseException]) -> bool:
    return task.done() and not task.cancelled() and isinstance(task.exception(), kind)


async def _stop(*tasks: asyncio.Task[None] | None) -> None:
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    outcomes = await asyncio.gather(*running, return_exceptions=True)
    for task, outcome in zip(running, outcomes, strict=True):
        # Servers raise OSError on a write to a client that went away: the usual end of a stream.
        if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
            log.error("live stream task %s failed", task.get_name(), exc_info=outcome)


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
