"""Shared by the messenger tests: a fake vendor API on 127.0.0.1, channels made through the API,
webhook posts through the real endpoint, and draining the job queue."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update

from opora.inbox.models import InboundPayload
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket
from tests.support.factories import Desk


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, bytes, str]


@dataclass
class FakeVendor:
    """Answers by path: a queue of scripted answers first (the last one stays), else ``default``."""

    default: Callable[[Call], Answer]
    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, list[Answer]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, *answers: Answer) -> None:
        self.scripted[path] = list(answers)

    def to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path.split("?")[0] == path]

    def _answer(self, call: Call) -> Answer:
        self.calls.append(call)
        queue = self.scripted.get(call.path.split("?")[0])
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.default(call)

    def __enter__(self) -> FakeVendor:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                call = Call(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                status, body, content_type = vendor._answer(call)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def json_answer(data: Any, status: int = 200) -> Answer:
    return status, json.dumps(data).encode(), "application/json"


def fixture(directory: Path, name: str) -> bytes:
    return (directory / "fixtures" / name).read_bytes()


async def make_channel(
    client: httpx.AsyncClient, desk: Desk, type_name: str, settings: dict[str, Any], secrets: dict[str, Any]
) -> int:
    r = await client.post(
        "/api/v1/channels",
        json={
            "type": type_name,
            "name": type_name.title(),
            "settings": {**settings, "team_id": desk.support.id},
            "secrets": secrets,
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def drain(runtime: Runtime) -> int:
    worker = Worker(runtime, concurrency=1, poll_seconds=0.05)
    total = 0
    while done := await worker.run_until_idle():
        total += done
    return total


async def make_jobs_due(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        await uow.session.execute(
            update(Job).where(Job.state == "queued").values(run_at=utcnow() - timedelta(seconds=1))
        )


async def rows(runtime: Runtime, model: Any, *where: Any) -> list[Any]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where).order_by(model.id))).all())


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def inbound(runtime: Runtime) -> list[Message]:
    return await rows(runtime, Message, Message.direction == "in")


async def outbound(runtime: Runtime) -> list[Message]:
    return await rows(runtime, Message, Message.direction == "out")


async def reply(
    client: httpx.AsyncClient, desk: Desk, ticket_id: int, text: str = "Здравствуйте! Заказ в пути."
) -> int:
    r = await client.post(f"/api/v1/tickets/{ticket_id}/messages", json={"text": text}, headers=desk.olga_h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def deliver_jobs(runtime: Runtime) -> list[Job]:
    return await rows(runtime, Job, Job.task == "messages.deliver")


__all__ = [
    "Attachment",
    "Call",
    "FakeVendor",
    "InboundPayload",
    "Ticket",
    "count",
    "deliver_jobs",
    "drain",
    "fixture",
    "inbound",
    "json_answer",
    "make_channel",
    "make_jobs_due",
    "outbound",
    "reply",
    "rows",
]
