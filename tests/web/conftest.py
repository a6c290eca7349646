"""Pages seen through a logged-in browser session (httpx; the Playwright tests live in tests/browser)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from opora.agents.models import Agent
from opora.runtime import Runtime
from tests.support.factories import Desk, session_for


@dataclass
class PageSession:
    client: httpx.AsyncClient
    cookie: str
    csrf: str

    def _headers(self, given: object) -> dict[str, str]:
        # A Cookie header per request: several personas share one client in a test.
        headers = dict(given or {})  # type: ignore[call-overload]
        headers["Cookie"] = f"opora_session={self.cookie}"
        return headers

    async def get(self, url: str, **kwargs: object) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        return await self.client.get(url, headers=headers, **kwargs)  # type: ignore[arg-type]

    async def post(self, url: str, *, csrf: bool = True, **kwargs: object) -> httpx.Response:
        data = dict(kwargs.pop("data", None) or {})  # type: ignore[call-overload]
        if csrf and not kwargs.get("files"):
            data.setdefault("csrf_token", self.csrf)
        headers = self._headers(kwargs.pop("headers", None))
        if csrf and kwargs.get("files"):
            headers["X-CSRF-Token"] = self.csrf
        return await self.client.post(url, data=data, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def login(client: httpx.AsyncClient, runtime: Runtime):  # type: ignore[no-untyped-def]
    async def _login(agent: Agent) -> PageSession:
        cookie, csrf = await session_for(runtime, agent)
        return PageSession(client, cookie, csrf)

    return _login


@pytest.fixture
async def admin_page(login, desk: Desk) -> PageSession:  # type: ignore[no-untyped-def]
    session: PageSession = await login(desk.admin)
    return session
