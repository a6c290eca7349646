"""Helpers for streaming tests: a loopback uvicorn server, an SSE parser, ticket events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
import uvicorn

from opora.customers.models import Customer
from opora.events.bus import PREFIX, EventBus, MemoryBus
from opora.events.service import SYSTEM, record
from opora.runtime import Runtime
from opora.tickets.models import Ticket


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Ctrl+C belongs to pytest, not to a server living inside one test.
        yield


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server

    def client(self) -> httpx.AsyncClient:
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        return httpx.AsyncClient(base_url=self.url, trust_env=False, timeout=10)


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: str | None = None

    @property
    def json(self) -> Any:
        return json.loads("\n".join(self.data))


class EventReader:
    """Parses a text/event-stream response frame by frame."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, timeout: float = 5.0) -> Frame:
        frame = Frame()
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    return frame
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    frame.comments.append(value)
                elif name == "data":
                    frame.data.append(value)
                elif name in ("id", "event", "retry"):
                    setattr(frame, name, value)
        raise EOFError("the stream ended")

    async def event(self, timeout: float = 5.0) -> Frame:
        """The next frame that carries data, skipping comments and the reconnect hint."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.frame(max(deadline - loop.time(), 0.001))
            if frame.data:
                return frame


async def make_ticket(runtime: Runtime, *, team_id: int | None = None, assignee_id: int | None = None) -> int:
    async with runtime.db.uow() as uow:
        customer = Customer(name="Ivan Petrov")
        uow.session.add(customer)
        await uow.session.flush()
        ticket = Ticket(
            subject="Where is my order?", customer_id=customer.id, team_id=team_id, assignee_id=assignee_id
        )
        uow.session.add(ticket)
        await uow.session.flush()
        return ticket.id


async def emit(
    runtime: Runtime,
    ticket_id: int,
    *,
    kind: str = "ticket.created",
    team_id: int | None = None,
    assignee_id: int | None = None,
) -> int:
    """Record an event the way services do: a row, published once the transaction commits."""
    async with runtime.db.uow() as uow:
        row = await record(
            uow,
            ticket_id=ticket_id,
            kind=kind,
            actor=SYSTEM,
            data={"n": 1},
            team_id=team_id,
            assignee_id=assignee_id,
        )
    return row.id


async def subscribers(bus: EventBus, topic: str, redis_url: str | None) -> int:
    """How many subscriptions listen on ``topic``, asked of the bus itself."""
    if isinstance(bus, MemoryBus):
        return len(bus._queues.get(topic, ()))
    assert redis_url is not None
    client = aioredis.from_url(redis_url)
    try:
        [(_, count)] = await client.pubsub_numsub(PREFIX + topic)
        return int(count)
    finally:
        await client.aclose()
