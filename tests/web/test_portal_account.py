"""The customer's own requests on the portal: magic-link sign-in, what a session may see, replies."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.kit.time import utcnow
from opora.portal import links
from opora.portal import service as portal
from opora.portal.models import PortalLogin
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.channels.email.e2e_support import drain, email_channel, running_sink
from tests.support.factories import Desk
from tests.web.helpers import make_ticket

IVAN = "ivan@example.com"
MARIA = "maria@example.com"


def _key(runtime: Runtime) -> bytes:
    return links.link_key(runtime.settings.resolved_secret_key())


async def _logins(runtime: Runtime) -> list[PortalLogin]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(PortalLogin).order_by(PortalLogin.id))).all())


async def _messages(runtime: Runtime, ticket_id: int) -> list[Message]:
    async with runtime.db.uow() as uow:
        query = select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
        return list((await uow.session.scalars(query)).all())


async def _signed_in(client: httpx.AsyncClient, runtime: Runtime, email: str) -> tuple[str, str]:
    """A link requested and opened, as the customer would: the session cookie and its CSRF token."""
    async with runtime.db.uow() as uow:
        await portal.request_link(uow, email, language="ru", now=utcnow())
    login = (await _logins(runtime))[-1]
    token = links.sign(_key(runtime), login.id, login.link_expires_at)
    r = await client.post(f"/help/ru/login/{token}")
    assert r.status_code == 303 and r.headers["location"] == "/help/ru/requests"
    cookie = r.cookies["opora_portal"]
    client.cookies.clear()
    r = await client.get("/help/ru/requests", headers={"Cookie": f"opora_portal={cookie}"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert csrf is not None
    return cookie, csrf.group(1)


async def test_no_email_channel_is_said_plainly(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.get("/help/en/login")
    assert r.status_code == 200 and "not available yet" in r.text and '<form method="post"' not in r.text
    r = await client.post("/help/en/login", data={"email": IVAN})
    assert r.status_code == 503 and "not available yet" in r.text
    assert await _logins(runtime) == []


async def test_magic_link_is_mailed_works_once_and_opens_a_session(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket = await make_ticket(client, desk.admin_h, subject="Где мой заказ?", email=IVAN)
    async with running_sink() as sink:
        await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none")
        r = await client.get("/help/ru/login")
        assert 'name="email"' in r.text
        r = await client.post("/help/ru/login", data={"email": "not an address"})
        assert r.status_code == 422 and 'aria-invalid="true"' in r.text
        # An unknown address gets the same answer, and nothing is sent.
        r = await client.post("/help/ru/login", data={"email": "stranger@example.com"})
        assert r.status_code == 200 and "stranger@example.com" in r.text
        assert await _logins(runtime) == []
        r = await client.post("/help/ru/login", data={"email": " Ivan@Example.com "})
        assert r.status_code == 200
        await drain(runtime)
        assert len(sink.messages) == 1
        mail = sink.messages[0]
        assert mail.rcpt_tos == [IVAN]
        assert mail.message["Auto-Submitted"] == "auto-generated"
        body = mail.message.get_body(("plain",))
        assert body is not None
        found = re.search(r"http://\S+/help/ru/login/(\S+)", body.get_content())
        assert found is not None
    token = found.group(1)
    # Opening the link shows a button; a GET (a mail scanner) does not spend it.
    r = await client.get(f"/help/ru/login/{token}")
    assert r.status_code == 200 and '<form method="post"' in r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    r = await client.post(f"/help/ru/login/{token}")
    assert r.status_code == 303
    set_cookie = r.headers["set-cookie"]
    assert "opora_portal=" in set_cookie and "HttpOnly" in set_cookie and "Path=/help" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    cookie = r.cookies["opora_portal"]
    client.cookies.clear()
    r = await client.get("/help/ru/requests", headers={"Cookie": f"opora_portal={cookie}"})
    assert (
        r.status_code == 200 and "Где мой заказ?" in r.text and f'data-ticket-id="{ticket["id"]}"' in r.text
    )
    # The agent workspace does not know this cookie.
    r = await client.get("/inbox", headers={"Cookie": f"opora_portal={cookie}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # The link works once.
    r = await client.post(f"/help/ru/login/{token}")
    assert r.status_code == 410 and "set-cookie" not in r.headers


async def test_forged_expired_and_reused_links_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_ticket(client, desk.admin_h, email=IVAN)
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    async with runtime.db.uow() as uow:
        await portal.request_link(uow, IVAN, language="ru", now=utcnow() - timedelta(hours=2))
        await portal.request_link(uow, IVAN, language="ru", now=utcnow())
    old, fresh = await _logins(runtime)
    good = links.sign(_key(runtime), fresh.id, fresh.link_expires_at)
    forged = [
        links.sign(b"another key" * 3, fresh.id, fresh.link_expires_at),  # not our signature
        links.sign(_key(runtime), fresh.id, fresh.link_expires_at + timedelta(days=1)),  # stretched
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        links.sign(_key(runtime), old.id, old.link_expires_at),  # genuine but expired
        links.sign(_key(runtime), 424242, fresh.link_expires_at),  # no such login
        "1.2.3.4",
        "x" * 500,
    ]
    for token in forged:
        r = await client.post(f"/help/ru/login/{token}")
        assert r.status_code in (410, 404), token
        assert "opora_portal" not in r.cookies
    assert all(login.used_at is None for login in await _logins(runtime))
    assert (await client.post(f"/help/ru/login/{good}")).status_code == 303
    assert (await client.post(f"/help/ru/login/{good}")).status_code == 410
    # A sign-in page of another site may not spend a link for the visitor.
    async with runtime.db.uow() as uow:
        await portal.request_link(uow, IVAN, language="ru", now=utcnow())
    third = (await _logins(runtime))[-1]
    token = links.sign(_key(runtime), third.id, third.link_expires_at)
    r = await client.post(f"/help/ru/login/{token}", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


async def test_requests_per_address_are_limited(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await make_ticket(client, desk.admin_h, email=IVAN)
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    for _ in range(portal.MAX_REQUESTS_PER_HOUR + 3):
        r = await client.post("/help/ru/login", data={"email": IVAN})
        assert r.status_code == 200
    assert len(await _logins(runtime)) == portal.MAX_REQUESTS_PER_HOUR


async def test_a_customer_sees_only_their_tickets_and_only_public_messages(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    mine = await make_ticket(client, desk.admin_h, subject="Возврат куртки", email=IVAN, text="Хочу вернуть")
    theirs = await make_ticket(client, desk.admin_h, subject="Чужой заказ", email=MARIA, text="Секрет Марии")
    r = await client.post(
        f"/api/v1/tickets/{mine['id']}/messages",
        json={"text": "ВНУТРЕННЕЕ: клиент капризный", "internal": True},
        headers=desk.admin_h,
    )
    assert r.status_code == 201
    r = await client.post(
        f"/api/v1/tickets/{mine['id']}/messages", json={"text": "Оформили возврат."}, headers=desk.admin_h
    )
    assert r.status_code == 201
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    cookie, _csrf = await _signed_in(client, runtime, IVAN)
    jar = {"Cookie": f"opora_portal={cookie}"}
    r = await client.get("/help/ru/requests", headers=jar)
    assert "Возврат куртки" in r.text and "Чужой заказ" not in r.text
    r = await client.get(f"/help/ru/requests/{mine['id']}", headers=jar)
    assert r.status_code == 200
    assert "Хочу вернуть" in r.text and "Оформили возврат." in r.text
    assert "ВНУТРЕННЕЕ" not in r.text and "капризный" not in r.text
    for other in (str(theirs["id"]), "999999", "abc", "-1", "9" * 40):
        r = await client.get(f"/help/ru/requests/{other}", headers={**jar, "Accept": "text/html"})
        assert r.status_code == 404, other
        assert "Секрет Марии" not in r.text
    # Without a session: to the sign-in page.
    client.cookies.clear()
    r = await client.get(f"/help/ru/requests/{mine['id']}")
    assert r.status_code == 303 and r.headers["location"] == "/help/ru/login"
    r = await client.get("/help/ru/requests", headers={"Cookie": "opora_portal=forged-cookie"})
    assert r.status_code == 303


async def test_reply_joins_the_ticket_as_a_customer_message_and_needs_csrf(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    mine = await make_ticket(client, desk.admin_h, subject="Возврат куртки", email=IVAN)
    theirs = await make_ticket(client, desk.admin_h, subject="Чужой заказ", email=MARIA)
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    cookie, csrf = await _signed_in(client, runtime, IVAN)
    jar = {"Cookie": f"opora_portal={cookie}"}
    before = len(await _messages(runtime, mine["id"]))
    url = f"/help/ru/requests/{mine['id']}"
    r = await client.post(url, data={"text": "Без токена"}, headers=jar)
    assert r.status_code == 403
    r = await client.post(url, data={"text": "Чужой токен", "csrf_token": "x" * 43}, headers=jar)
    assert r.status_code == 403
    r = await client.post(url, data={"text": "   ", "csrf_token": csrf}, headers=jar)
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = await client.post(
        f"/help/ru/requests/{theirs['id']}", data={"text": "В чужой", "csrf_token": csrf}, headers=jar
    )
    assert r.status_code == 404
    assert len(await _messages(runtime, mine["id"])) == before
    assert len(await _messages(runtime, theirs["id"])) == 1
    r = await client.post(url, data={"text": "Когда вернут деньги?", "csrf_token": csrf}, headers=jar)
    assert r.status_code == 303
    messages = await _messages(runtime, mine["id"])
    assert len(messages) == before + 1
    last = messages[-1]
    assert (last.text, last.author_type, last.direction, last.is_internal) == (
        "Когда вернут деньги?", "customer", "in", False,
    )  # fmt: skip
    assert last.metadata_.get("via") == "portal"
    async with runtime.db.uow() as uow:
        # The ticket service recorded it like any customer message: an event by the customer.
        event = (
            await uow.session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == mine["id"], TicketEvent.kind == "message_added")
                .order_by(TicketEvent.id.desc())
            )
        ).first()
        assert event is not None and event.actor_type == "customer" and event.data["message_id"] == last.id
        ticket = await uow.session.get(Ticket, mine["id"])
        assert ticket is not None and ticket.last_customer_message_at is not None
    # Signing out ends the session on the server, not just in this browser.
    r = await client.post("/help/ru/logout", data={"csrf_token": csrf}, headers=jar)
    assert r.status_code == 303
    r = await client.get("/help/ru/requests", headers=jar)
    assert r.status_code == 303 and r.headers["location"] == "/help/ru/login"


@pytest.mark.parametrize("status", ["closed"])
async def test_a_closed_ticket_takes_no_reply(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, status: str
) -> None:
    mine = await make_ticket(client, desk.admin_h, email=IVAN)
    async with runtime.db.uow() as uow:
        ticket = await uow.session.get(Ticket, mine["id"])
        assert ticket is not None
        ticket.status = status
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    cookie, csrf = await _signed_in(client, runtime, IVAN)
    before = len(await _messages(runtime, mine["id"]))
    r = await client.post(
        f"/help/ru/requests/{mine['id']}", data={"text": "Ещё вопрос", "csrf_token": csrf},
        headers={"Cookie": f"opora_portal={cookie}"},
    )  # fmt: skip
    assert r.status_code == 409
    assert len(await _messages(runtime, mine["id"])) == before


async def test_erasing_the_customer_ends_portal_sessions_and_forgets_the_address(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    mine = await make_ticket(client, desk.admin_h, email=IVAN)
    await email_channel(runtime, smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none")
    cookie, _csrf = await _signed_in(client, runtime, IVAN)
    r = await client.post(
        f"/api/v1/privacy/customers/{mine['customer_id']}/erase",
        json={"confirm": mine["customer_id"]},
        headers=desk.admin_h,
    )
    assert r.status_code == 200, r.text
    assert await _logins(runtime) == []
    r = await client.get("/help/ru/requests", headers={"Cookie": f"opora_portal={cookie}"})
    assert r.status_code == 303 and r.headers["location"] == "/help/ru/login"
