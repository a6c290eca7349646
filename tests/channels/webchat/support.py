"""A WebSocket client that drives the ASGI app in the test's own event loop (Starlette's
TestClient would run the app in another loop, away from the test's database connections)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI

from opora.jobs.worker import Worker
from opora.runtime import Runtime

PUBLIC_KEY = "shop-romashka-chat"
SECRET = "identity-secret-0123456789"


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class AsgiSocket:
    def __init__(self, app: FastAPI, path: str = "/widget/v1/ws", origin: str | None = None) -> None:
        self.app = app
        self.path = path
        self.origin = origin
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiSocket:
        headers = [(b"host", b"testserver")]
        if self.origin:
            headers.append((b"origin", self.origin.encode()))
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "subprotocols": [],
        }
        await self._to_app.put({"type": "websocket.connect"})
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._sent))
        accepted = await asyncio.wait_for(self._from_app.get(), 5)
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def _sent(self, message: MutableMapping[str, Any]) -> None:
        await self._from_app.put(dict(message))

    async def send(self, frame: dict[str, Any]) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        message = await asyncio.wait_for(self._from_app.get(), timeout)
        if message["type"] == "websocket.close":
            raise Closed(int(message.get("code", 1000)))
        frame: dict[str, Any] = json.loads(message["text"])
        return frame

    async def receive_type(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of this type; typing notices and pongs in between are skipped."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == kind:
                return frame

    async def receive_types(self, *kinds: str, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """The first frame of each of these types, in whatever order they come: a stored copy of
        the visitor's message may overtake its ack (the bus delivers after the commit, the ack is
        pushed after it too), which the widget handles by client id."""
        found: dict[str, dict[str, Any]] = {}
        while len(found) < len(kinds):
            frame = await self.receive(timeout)
            if frame["type"] in kinds:
                found.setdefault(frame["type"], frame)
        return found

    async def hello(self, token: str, *, after_id: int = 0) -> dict[str, Any]:
        await self.send({"type": "hello", "channel": PUBLIC_KEY, "token": token, "after_id": after_id})
        return await self.receive_type("ready")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await asyncio.wait_for(self._task, 5)


async def session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post(
        "/widget/v1/session",
        content=json.dumps({"channel": PUBLIC_KEY, **body}),
        headers={"content-type": "text/plain;charset=UTF-8", "origin": "http://shop.test"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    result: dict[str, Any] = r.json()
    return result


async def drain(runtime: Runtime) -> int:
    worker = Worker(runtime, concurrency=1, poll_seconds=0.05)
    total = 0
    while done := await worker.run_until_idle():
        total += done
    return total
