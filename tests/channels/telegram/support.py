"""Helpers for the Telegram tests: fixtures on disk, a channel pointed at the fake Bot API, webhook
posts through the real endpoint, and draining the job queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

import opora.channels.telegram  # noqa: F401  (registers the channel type, its job and hook)
from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.schemas import ChannelCreate
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.channels.telegram.fake_bot_api import TOKEN, FakeBotApi

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "hook-secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@asynccontextmanager
async def fake_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


async def telegram_channel(
    runtime: Runtime, fake: FakeBotApi | None = None, *, team_id: int | None = None, **settings: Any
) -> Channel:
    """A Telegram channel made through the service, so its settings pass ``check_config``."""
    values: dict[str, Any] = {"api_base_url": fake.base_url if fake else "http://127.0.0.1:9", **settings}
    if team_id is not None:
        values["team_id"] = team_id
    data = ChannelCreate(
        type="telegram",
        name="Бот магазина",
        settings=values,
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    async with runtime.db.uow() as uow:
        return await channels_service.create_channel(uow, runtime, data)


async def post_update(
    client: httpx.AsyncClient, channel: Channel, body: bytes | dict[str, Any], *, secret: str | None = SECRET
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return await client.post(f"/api/v1/inbound/{channel.id}", content=content, headers=headers)


async def drain(runtime: Runtime) -> int:
    worker = Worker(runtime, concurrency=2, poll_seconds=0.05)
    total = 0
    while done := await worker.run_until_idle():
        total += done
    return total


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.db.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def messages(runtime: Runtime, *where: Any) -> list[Message]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Message).where(*where).order_by(Message.id))).all())
