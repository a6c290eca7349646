from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opora.agents.models import Agent
from opora.app import create_app
from opora.runtime import Runtime
from tests.channels.webchat.support import PUBLIC_KEY, SECRET
from tests.support.factories import Desk


@pytest.fixture
async def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime, run_worker=False)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def set_presence(runtime: Runtime, agent_id: int, presence: str) -> None:
    async with runtime.db.uow() as uow:
        agent = await uow.session.get(Agent, agent_id)
        assert agent is not None
        agent.presence = presence


@pytest.fixture
async def chat(http: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> dict[str, Any]:
    """A chat channel of team Support with Olga online, so the widget is not in offline mode."""
    r = await http.post(
        "/api/v1/channels",
        headers=desk.admin_h,
        json={
            "type": "webchat",
            "name": "Чат на сайте",
            "settings": {
                "public_key": PUBLIC_KEY,
                "team_id": desk.support.id,
                "color": "#0a7d32",
                "greeting": {"ru": "Привет! Чем помочь?", "en": "Hi! How can we help?"},
                "upload_max_bytes": 1024,
            },
            "secrets": {"identity_secret": SECRET},
        },
    )
    assert r.status_code == 201, r.text
    await set_presence(runtime, desk.olga.id, "online")
    channel: dict[str, Any] = r.json()
    return channel
