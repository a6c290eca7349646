"""The chat widget end to end: a shop page with the snippet, a visitor in Chromium, an agent in
the workspace, live both ways; reload keeps the history; signed identities merge, bad ones don't."""

from __future__ import annotations

import asyncio
import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from opora.agents.models import Agent
from opora.channels.webchat.identity import sign
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow

SHOP_PAGE = (Path(__file__).parent / "shop" / "index.html").read_text()
KEY = "romashka-browser-chat"
SECRET = "browser-identity-secret-42"


class _Shop(BaseHTTPRequestHandler):
    opora: ClassVar[str] = ""

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        identity = ""
        if "email" in query:
            attrs = {
                "data-identity-id": query.get("id", [""])[0],
                "data-identity-email": query["email"][0],
                "data-identity-name": "Иван Петров",
                "data-identity-signature": query.get("sig", [""])[0],
            }
            identity = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
        page = (
            SHOP_PAGE.replace("{{OPORA}}", self.opora)
            .replace("{{KEY}}", KEY)
            .replace("{{IDENTITY}}", identity)
        )
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def shop(server_url: str) -> Iterator[str]:
    _Shop.opora = server_url
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Another origin than the desk's, as on a real shop.
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def _setup(server_url: str, desk: Desk, runtime: Runtime) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.post(
            "/api/v1/channels",
            json={
                "type": "webchat",
                "name": "Чат",
                "settings": {"public_key": KEY, "team_id": desk.support.id, "color": "#7b2cbf"},
                "secrets": {"identity_secret": SECRET},
            },
        )
        assert r.status_code == 201, r.text
        r = await api.post(
            "/api/v1/customers",
            json={"name": "Иван Петров", "identities": [{"kind": "email", "value": "ivan@example.com"}]},
        )
        assert r.status_code == 201, r.text
    async with runtime.db.uow() as uow:
        olga = await uow.session.get(Agent, desk.olga.id)
        assert olga is not None
        olga.presence = "online"


async def _ticket_of(runtime: Runtime, text: str) -> Ticket:
    for _ in range(100):
        async with runtime.db.uow() as uow:
            found = (
                await uow.session.scalars(
                    select(Ticket).join(Message, Message.ticket_id == Ticket.id).where(Message.text == text)
                )
            ).first()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ticket holds {text!r}")


async def _write(page: Any, text: str) -> None:
    await page.locator("#opora-chat textarea").fill(text)
    await page.locator("#opora-chat textarea").press("Enter")


async def _status_soon(runtime: Runtime, text_like: str, wanted: str, seconds: float = 10.0) -> str:
    """The delivery status of the message, once it is ``wanted`` or the time is up."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        async with runtime.db.reader() as uow:
            status = str(
                (
                    await uow.session.scalars(
                        select(Message.delivery_status).where(Message.text.like(text_like))
                    )
                ).one()
            )
        if status == wanted or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.2)


async def test_visitor_and_agent_talk_live_and_the_history_survives_a_reload(
    browser: Any, server_url: str, shop: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    await _setup(server_url, desk, runtime)
    cookie, _csrf = await session_for(runtime, desk.olga)
    agent_context = await browser.new_context(viewport={"width": 1300, "height": 850})
    await agent_context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    agent = await agent_context.new_page()

    visitor_context = await browser.new_context(viewport={"width": 1000, "height": 760}, locale="ru-RU")
    visitor = await visitor_context.new_page()
    frames_sent: list[Any] = []
    visitor.on("websocket", lambda ws: ws.on("framesent", lambda f: frames_sent.append(f)))
    await visitor.goto(shop)
    await visitor.locator("#opora-chat[data-connected]").wait_for(state="attached")
    await visitor.locator("#opora-chat .launcher").click()
    # The shop's CSS does not reach inside: our button keeps its own colour and font.
    background = await visitor.locator("#opora-chat .send").evaluate(
        "b => getComputedStyle(b).backgroundColor"
    )
    assert background == "rgb(123, 44, 191)"
    await _write(visitor, "Здравствуйте! Где мой заказ 1234?")
    await visitor.locator("#opora-chat .row.mine .meta").filter(has_text="✓").wait_for()

    # The agent has the chat open; the visitor's next message appears there without a reload.
    ticket = await _ticket_of(runtime, "Здравствуйте! Где мой заказ 1234?")
    await agent.goto(f"{server_url}/tickets/{ticket.id}")
    await agent.get_by_text("Где мой заказ 1234?").wait_for()
    await asyncio.sleep(1.5)  # the page's event stream connects after load
    await _write(visitor, "Заказ оформлен вчера вечером")
    await agent.get_by_text("Заказ оформлен вчера вечером").wait_for(timeout=20_000)
    await agent.fill("#composer-text", "Добрый день! Заказ уже в пути, будет завтра.")
    await agent.click("[data-send]")

    # ... and the visitor sees the answer, with the agent's name, without reloading.
    answer = visitor.locator("#opora-chat .row:not(.mine)").filter(has_text="Заказ уже в пути")
    await answer.wait_for(timeout=10_000)
    assert await answer.locator(".who").inner_text() == "Olga"
    assert await answer.locator(".avatar").inner_text() == "O"
    await visitor.screenshot(path=str(artifacts / "widget.png"))
    # The panel is open on a visible page: the widget reports the reply it shows, by its id.
    assert await _status_soon(runtime, "Добрый день!%", "read") == "read"
    receipts = [json.loads(f) for f in frames_sent if isinstance(f, str) and '"read"' in f]
    assert receipts and all(isinstance(r["message_ids"], list) and "up_to" not in r for r in receipts)

    # A reload shows the whole conversation again, from the visitor token in localStorage.
    await visitor.reload()
    await visitor.locator("#opora-chat[data-connected]").wait_for(state="attached")
    texts = await visitor.locator("#opora-chat .row .bubble").all_inner_texts()
    assert any("Где мой заказ 1234?" in t for t in texts)
    assert any("Заказ уже в пути" in t for t in texts)
    async with runtime.db.uow() as uow:
        reply = (await uow.session.scalars(select(Message).where(Message.text.like("Добрый день!%")))).one()
        assert reply.ticket_id == ticket.id
    await visitor_context.close()
    await agent_context.close()


@pytest.mark.parametrize("signed", [True, False])
async def test_a_signed_identity_merges_into_the_customer_and_a_bad_one_does_not(
    browser: Any, server_url: str, shop: str, desk: Desk, runtime: Runtime, signed: bool
) -> None:
    await _setup(server_url, desk, runtime)
    good = sign(SECRET, "1001", "ivan@example.com")
    signature = good if signed else good[:-4] + "0000"
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{shop}/account?id=1001&email=ivan@example.com&sig={signature}")
    await page.locator("#opora-chat[data-connected]").wait_for(state="attached")
    await page.locator("#opora-chat .launcher").click()
    text = f"Я вошёл в магазин ({'подпись верна' if signed else 'подпись неверна'})"
    await _write(page, text)
    ticket = await _ticket_of(runtime, text)
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        customer = (await api.get(f"/api/v1/customers/{ticket.customer_id}")).json()
    emails = [i["value"] for i in customer["identities"] if i["kind"] == "email"]
    if signed:
        assert (customer["name"], emails) == ("Иван Петров", ["ivan@example.com"])
    else:
        assert emails == []
        assert customer["name"] == ""
    await context.close()
