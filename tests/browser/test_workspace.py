"""The agent workspace in a real browser: a working day's main path, live updates, languages,
and an HTML e-mail that must not run or load anything."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from opora.agents.models import Agent
from opora.notifications.models import Notification
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.support.factories import PASSWORD, Desk, session_for

pytestmark = pytest.mark.slow


async def _api_ticket(server_url: str, headers: dict[str, str], subject: str, team_id: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server_url, headers=headers) as api:
        r = await api.post(
            "/api/v1/tickets",
            json={
                "subject": subject,
                "team_id": team_id,
                "customer": {
                    "identity": {"kind": "email", "value": "ivan@example.com"},
                    "name": "Иван Петров",
                },
                "message": {"text": "Здравствуйте! Где мой заказ 1234?", "author": "customer"},
            },
        )
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result


async def _set_language(runtime: Runtime, agent_id: int, language: str) -> None:
    async with runtime.db.uow() as uow:
        agent = await uow.session.get(Agent, agent_id)
        assert agent is not None
        agent.language = language


async def test_an_agents_day_login_inbox_template_reply_mention_status_live_and_language(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    await _set_language(runtime, desk.olga.id, "en")
    ticket = await _api_ticket(server_url, desk.admin_h, "Где мой заказ?", desk.support.id)
    async with httpx.AsyncClient(base_url=server_url, headers=desk.olga_h) as api:
        r = await api.post(
            "/api/v1/canned",
            json={
                "title": "Заказ в пути",
                "body": "Здравствуйте, {{customer.first_name}}! Ваш заказ уже в пути. {{agent.name}}",
            },
        )
        assert r.status_code == 201, r.text

    context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    page = await context.new_page()
    # Log in through the form, as a person would.
    await page.goto(f"{server_url}/inbox")
    await page.wait_for_url("**/login**")
    await page.fill("#email", desk.olga.email)
    await page.fill("#password", PASSWORD)
    await page.click("button.primary")
    await page.wait_for_url("**/inbox")
    await page.click("a[data-view=teams]")
    row = page.locator(f"tr[data-ticket-id='{ticket['id']}']")
    await row.wait_for()
    await page.screenshot(path=str(artifacts / "inbox.png"), full_page=True)

    # Open the ticket, insert a template rendered for this customer, send it.
    await row.locator("a").click()
    await page.wait_for_url(f"**/tickets/{ticket['id']}")
    await page.fill("#canned-q", "пути")
    await page.locator("[data-canned-id]").first.click()
    area = page.locator("#composer-text")
    await page.wait_for_function("document.querySelector('#composer-text').value.includes('Иван')")
    assert "Ваш заказ уже в пути. Olga" in await area.input_value()
    await page.click("[data-send]")
    await page.locator(".msg-out:not(.msg-note)").filter(has_text="Ваш заказ уже в пути").wait_for()

    # An internal note mentioning the supervisor notifies him.
    await page.check("input[name=mode][value=note]")
    await area.fill("@sergey посмотри, пожалуйста, это VIP")
    await page.click("[data-send]")
    await page.locator(".msg-note").filter(has_text="@sergey").wait_for()

    # Change the status from the fields panel.
    await page.select_option("#fld-status", "pending")
    await page.click(".fields button[type=submit]")
    await page.locator("[data-ticket-status]").filter(has_text="Pending").wait_for()
    await page.screenshot(path=str(artifacts / "ticket.png"), full_page=True)

    async with runtime.db.uow() as uow:
        stored = await uow.session.get(Ticket, ticket["id"])
        assert stored is not None and stored.status == "pending"
        notes = (
            await uow.session.scalars(select(Notification).where(Notification.agent_id == desk.supervisor.id))
        ).all()
        assert [n.kind for n in notes] == ["mention"]
        texts = (
            await uow.session.scalars(select(Message.text).where(Message.ticket_id == ticket["id"]))
        ).all()
        assert any(t.startswith("Здравствуйте, Иван!") for t in texts)

    # A second agent's inbox shows a ticket created through the API without a reload.
    cookie, _csrf = await session_for(runtime, desk.supervisor)
    other = await browser.new_context(viewport={"width": 1200, "height": 800})
    await other.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    watcher = await other.new_page()
    await watcher.goto(f"{server_url}/inbox?view=all")
    await watcher.locator("tr.ticket-row").first.wait_for()
    await asyncio.sleep(0.5)  # the page's event stream connects after load
    created = await _api_ticket(server_url, desk.admin_h, "Новый вопрос про доставку", desk.support.id)
    await watcher.locator(f"tr[data-ticket-id='{created['id']}']").wait_for(timeout=10_000)
    # ... and the mention waits for him in the bell.
    await watcher.locator("[data-unread]").filter(has_text="1").wait_for(timeout=5_000)
    await other.close()

    # Switch the language: Russian labels everywhere.
    await page.goto(f"{server_url}/inbox")
    await page.click("form.lang button[value=ru]")
    await page.wait_for_url("**/inbox**")
    await page.get_by_role("heading", name="Мои").wait_for()
    assert await page.locator(".mainnav a").first.inner_text() == "Входящие"
    await page.screenshot(path=str(artifacts / "inbox-ru.png"), full_page=True)
    await context.close()


async def _olga_on_a_new_ticket(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime
) -> tuple[dict[str, Any], Any, Any]:
    """A new customer ticket, open in Olga's browser in English with its event stream connected."""
    await _set_language(runtime, desk.olga.id, "en")
    ticket = await _api_ticket(server_url, desk.admin_h, "Где мой заказ?", desk.support.id)
    cookie, _csrf = await session_for(runtime, desk.olga)
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    await page.goto(f"{server_url}/tickets/{ticket['id']}")
    await asyncio.sleep(0.5)  # the page's event stream connects after load
    return ticket, context, page


async def test_a_live_update_keeps_the_agents_unsaved_field_edit(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime
) -> None:
    ticket, context, page = await _olga_on_a_new_ticket(browser, server_url, desk, runtime)
    status, priority = page.locator("#fld-status"), page.locator("#fld-priority")

    # Nothing unsaved: another agent's change shows up in the panel without a reload.
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "high"})
        assert r.status_code == 200, r.text
    await page.wait_for_function("document.querySelector('#fld-priority').value === 'high'", timeout=10_000)

    # The customer writes again; the panel's refresh is on its way when the agent picks a status
    # (held here so that the order is certain). The refreshed panel keeps the picked status. The
    # held refresh may also be one for a late event of the change above: the page then asks again
    # for the message's event once it lands.
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Any) -> None:
        held.set()
        await release.wait()
        await route.continue_()

    await page.route("**/parts/side", hold)
    await _customer_writes(server_url, desk, ticket["id"], "Ещё вопрос про оплату")
    await asyncio.wait_for(held.wait(), 10)
    await status.select_option("pending")
    async with page.expect_response("**/parts/side"):
        release.set()
    # The route stays: with the event set it passes every later refresh straight on. Removing it
    # while a queued refresh is inside the handler could leave that request without an answer.
    await page.locator(".msg").filter(has_text="Ещё вопрос про оплату").wait_for(timeout=10_000)
    await asyncio.sleep(0.3)  # the swap follows the response
    assert await status.input_value() == "pending"
    assert await priority.input_value() == "high"

    # Another agent raises the priority while the status is still unsaved: the panel shows the
    # new priority and keeps the picked status, so Save does not put the old priority back.
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "urgent"})
        assert r.status_code == 200, r.text
    await page.wait_for_function("document.querySelector('#fld-priority').value === 'urgent'", timeout=10_000)
    assert await status.input_value() == "pending"

    # Save stores the picked status with the other agent's priority, and the panel follows the
    # server again.
    await page.click(".fields button[type=submit]")
    await page.locator("[data-ticket-status]").filter(has_text="Pending").wait_for()
    async with runtime.db.uow() as uow:
        stored = await uow.session.get(Ticket, ticket["id"])
        assert stored is not None and (stored.status, stored.priority) == ("pending", "urgent")
    await _customer_writes(server_url, desk, ticket["id"], "И ещё одно")
    await page.locator(".msg").filter(has_text="И ещё одно").wait_for(timeout=10_000)
    await page.wait_for_function("document.querySelector('#fld-status').value === 'open'", timeout=10_000)
    # A refresh still inside the route when the context closes must not fail the next test.
    await page.unroute_all(behavior="ignoreErrors")
    await context.close()


async def test_a_message_that_comes_while_the_timeline_refreshes_still_shows(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime
) -> None:
    ticket, context, page = await _olga_on_a_new_ticket(browser, server_url, desk, runtime)

    # The timeline's refresh for another agent's change is answered, but its answer is held: the
    # page gets it only after the customer's next message has come in. htmx queues the refresh
    # for that message on the old timeline element, which the held answer then replaces.
    fetched, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Any) -> None:
        response = await route.fetch()
        fetched.set()
        await release.wait()
        await route.fulfill(response=response)

    await page.route("**/parts/timeline", hold)
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "high"})
        assert r.status_code == 200, r.text
    await asyncio.wait_for(fetched.wait(), 10)
    text = "Оплатил, а заказ всё ещё не отправлен"
    async with page.expect_request("**/parts/side"):
        await _customer_writes(server_url, desk, ticket["id"], text)
    release.set()
    await page.locator(".msg").filter(has_text=text).wait_for(timeout=10_000)
    await page.wait_for_function("document.querySelector('#fld-priority').value === 'high'", timeout=10_000)
    await page.unroute_all(behavior="ignoreErrors")
    await context.close()


async def _customer_writes(server_url: str, desk: Desk, ticket_id: int, text: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=desk.admin_h) as api:
        r = await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"text": text, "author": "customer"})
        assert r.status_code == 201, r.text


class _Tracker(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Tracker.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a")

    def log_message(self, *_args: object) -> None:
        pass


async def test_hostile_html_mail_runs_no_script_and_loads_nothing_remote(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    tracker = ThreadingHTTPServer(("127.0.0.1", 0), _Tracker)
    threading.Thread(target=tracker.serve_forever, daemon=True).start()
    remote = f"http://127.0.0.1:{tracker.server_address[1]}"
    ticket = await _api_ticket(server_url, desk.admin_h, "HTML", desk.support.id)
    hostile = (
        f'<p id="body">Письмо<img src="{remote}/pixel.gif" onerror="parent.document.title=\'pwned\'">'
        f'<script>parent.document.title = "pwned"; fetch("{remote}/script")</script>'
        f'<a href="javascript:parent.document.title=\'pwned\'" id="link">ссылка</a>'
        f'<link rel="stylesheet" href="{remote}/style.css"></p>'
    )
    # Stored raw, past the sanitiser, as if it had a hole: the frame alone must still hold.
    async with runtime.db.uow() as uow:
        message = (await uow.session.scalars(select(Message).where(Message.ticket_id == ticket["id"]))).one()
        message.html = hostile
    cookie, _csrf = await session_for(runtime, desk.olga)
    context = await browser.new_context()
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(f"{server_url}/tickets/{ticket['id']}")
    frame_element = page.locator("iframe.mail-frame")
    await frame_element.wait_for()
    frame = page.frame_locator("iframe.mail-frame")
    await frame.locator("#body").wait_for()
    await frame.locator("#link").click()
    await asyncio.sleep(1.0)
    assert await page.title() != "pwned"
    assert dialogs == []
    assert _Tracker.hits == []
    await page.screenshot(path=str(artifacts / "hostile-mail.png"))
    await context.close()
    tracker.shutdown()
    tracker.server_close()


async def test_inbox_and_ticket_page_fit_a_phone_screen(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    ticket = await _api_ticket(server_url, desk.admin_h, "Телефон: не приходит код", desk.support.id)
    cookie, _csrf = await session_for(runtime, desk.olga)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    for path, shot in (
        ("/inbox?view=all", "inbox-phone.png"),
        (f"/tickets/{ticket['id']}", "ticket-phone.png"),
    ):
        await page.goto(server_url + path)
        await page.locator("main").wait_for()
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
        await page.screenshot(path=str(artifacts / shot), full_page=True)
    # The composer is reachable and usable on the phone.
    await page.fill("#composer-text", "Отвечаю с телефона")
    await page.click("[data-send]")
    await page.locator(".msg-out").filter(has_text="Отвечаю с телефона").wait_for()
    await context.close()
