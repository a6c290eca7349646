"""The workspace pages over HTTP: login, inbox, ticket page, composer, CSRF and visibility."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from opora.agents.models import Agent
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.support.factories import PASSWORD, Desk
from tests.support.snapshot import snapshot
from tests.web.conftest import PageSession
from tests.web.helpers import count_queries, make_ticket


async def test_pages_send_a_stranger_to_the_login_page_and_back(client: httpx.AsyncClient) -> None:
    r = await client.get("/inbox?view=all", headers={"Accept": "text/html"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/inbox?view=all"
    r = await client.get("/inbox", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


async def test_login_form_opens_a_session_and_refuses_a_wrong_password(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    r = await client.post("/login", data={"email": "olga@shop.test", "password": "nope", "next": "/inbox"})
    assert r.status_code == 401
    assert "Неверная почта или пароль" in r.text  # the login page speaks Russian by default
    r = await client.post(
        "/login",
        data={"email": "olga@shop.test", "password": PASSWORD, "next": "https://evil.example/"},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/inbox"  # never an open redirect
    assert "opora_session" in r.cookies


async def test_inbox_shows_only_what_the_agent_may_see(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    mine = await make_ticket(client, desk.admin_h, subject="Возврат платья", team_id=desk.support.id)
    other = await make_ticket(client, desk.admin_h, subject="Двойное списание", team_id=desk.billing.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get("/inbox?view=all")
    assert r.status_code == 200
    assert "Возврат платья" in r.text and "Двойное списание" not in r.text
    assert f'data-ticket-id="{mine["id"]}"' in r.text
    # By URL: a ticket of another team is refused with a page, not shown.
    r = await olga.get(f"/tickets/{other['id']}", headers={"Accept": "text/html"})
    assert r.status_code == 403
    assert "Нет доступа" in r.text and "Двойное списание" not in r.text


async def test_inbox_views_counts_and_filters(client: httpx.AsyncClient, desk: Desk, login: object) -> None:
    await make_ticket(
        client, desk.admin_h, subject="Первый", team_id=desk.support.id, assignee_id=desk.olga.id
    )
    await make_ticket(client, desk.admin_h, subject="Второй", team_id=desk.support.id, tags=["vip"])
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get("/inbox?view=mine")
    assert "Первый" in r.text and "Второй" not in r.text
    r = await olga.get("/inbox?view=unassigned")
    assert "Второй" in r.text and "Первый" not in r.text
    r = await olga.get("/inbox?view=teams&tag=vip")
    assert "Второй" in r.text and "Первый" not in r.text
    r = await olga.get("/inbox?view=all&q=перв")
    assert "Первый" in r.text and "Второй" not in r.text
    r = await olga.get("/inbox/counts")
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', r.text))
    assert counts["mine"] == "1" and counts["unassigned"] == "1" and counts["teams"] == "2"
    r = await olga.get("/inbox?view=nonsense")
    assert r.status_code == 422


async def test_inbox_and_ticket_page_make_the_same_number_of_queries_for_few_and_many_rows(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    admin: PageSession = await login(desk.admin)  # type: ignore[operator]
    first = await make_ticket(client, desk.admin_h, team_id=desk.support.id, tags=["a"])
    with count_queries(runtime) as few:
        assert (await admin.get("/inbox?view=all")).status_code == 200
    with count_queries(runtime) as ticket_few:
        assert (await admin.get(f"/tickets/{first['id']}")).status_code == 200
    for n in range(12):
        await make_ticket(
            client, desk.admin_h, email=f"c{n}@example.com", team_id=desk.support.id, tags=["a", f"t{n}"]
        )
        r = await client.post(
            f"/api/v1/tickets/{first['id']}/messages", json={"text": f"ответ {n}"}, headers=desk.admin_h
        )
        assert r.status_code == 201
    with count_queries(runtime) as many:
        r = await admin.get("/inbox?view=all")
    assert r.text.count('class="ticket-row') == 13
    with count_queries(runtime) as ticket_many:
        r = await admin.get(f"/tickets/{first['id']}")
    assert r.text.count('class="msg ') == 13
    assert len(many) == len(few)
    assert len(ticket_many) == len(ticket_few)


async def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    before = await snapshot(runtime)
    r = await olga.post(f"/tickets/{ticket['id']}/reply", data={"text": "hi", "mode": "reply"}, csrf=False)
    assert r.status_code == 403
    r = await olga.post(
        f"/tickets/{ticket['id']}/reply",
        data={"text": "hi", "mode": "reply", "csrf_token": "forged"},
        csrf=False,
    )
    assert r.status_code == 403
    assert await snapshot(runtime) == before


async def test_reply_note_and_send_and_set_status_through_the_composer(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.post(
        f"/tickets/{ticket['id']}/reply",
        data={"text": "Заметка для @pavel", "mode": "note"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 204 and r.headers["HX-Trigger"] == "opora:replied"
    r = await olga.post(
        f"/tickets/{ticket['id']}/reply",
        data={"text": "Заказ уже в пути", "mode": "reply", "status": "solved"},
        files={"files": ("чек.pdf", b"%PDF-1.4 test", "application/pdf")},
    )
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket["id"])
        assert row is not None and row.status == "solved"
        messages = (await uow.session.scalars(select(Message).where(Message.ticket_id == ticket["id"]))).all()
    assert [(m.is_internal, m.text) for m in messages[1:]] == [
        (True, "Заметка для @pavel"),
        (False, "Заказ уже в пути"),
    ]
    page = await olga.get(f"/tickets/{ticket['id']}")
    assert "чек.pdf" in page.text and "msg-note" in page.text
    # Empty text, an unknown mode, a forbidden file type: refused, nothing stored.
    before = await snapshot(runtime)
    for data, files in (
        ({"text": "  ", "mode": "reply"}, None),
        ({"text": "x", "mode": "shout"}, None),
        ({"text": "x", "mode": "reply"}, {"files": ("x.html", b"<script>", "text/html")}),
    ):
        r = await olga.post(f"/tickets/{ticket['id']}/reply", data=data, files=files)
        assert r.status_code == 422, r.text
    assert await snapshot(runtime) == before


async def test_a_read_only_agent_sees_the_ticket_but_cannot_post(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    rita: PageSession = await login(desk.reader)  # type: ignore[operator]
    page = await rita.get(f"/tickets/{ticket['id']}")
    assert page.status_code == 200 and 'id="composer"' not in page.text
    r = await rita.post(f"/tickets/{ticket['id']}/reply", data={"text": "x", "mode": "reply"})
    assert r.status_code == 403


async def test_fields_form_and_assign_to_me(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.post(
        f"/tickets/{ticket['id']}/fields",
        data={
            "status": "open",
            "priority": "high",
            "tags": "доставка, vip",
            "topic": "delivery",
            "field_key": "order_number",
            "field_value": "A-1001",
        },
    )
    assert r.status_code == 303
    r = await olga.post(f"/tickets/{ticket['id']}/assign-me")
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Ticket, ticket["id"])
    assert row is not None
    assert (row.status, row.priority, row.topic, row.assignee_id) == (
        "open",
        "high",
        "delivery",
        desk.olga.id,
    )
    assert row.custom_fields["order_number"] == "A-1001"
    before = await snapshot(runtime)
    r = await olga.post(f"/tickets/{ticket['id']}/fields", data={"priority": "extreme"})
    assert r.status_code == 422
    r = await olga.post(f"/tickets/{ticket['id']}/fields", data={"assignee_id": desk.pavel.id})
    assert r.status_code == 403  # Pavel is in another team
    assert await snapshot(runtime) == before


async def test_bulk_assign_status_tag_and_merge(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    a = await make_ticket(client, desk.admin_h, team_id=desk.support.id, email="a@example.com")
    b = await make_ticket(client, desk.admin_h, team_id=desk.support.id, email="a@example.com")
    admin: PageSession = await login(desk.admin)  # type: ignore[operator]
    ids = [a["id"], b["id"]]
    for action, value in (("assign", str(desk.olga.id)), ("status", "open"), ("tag", "срочно")):
        r = await admin.post("/inbox/bulk", data={"action": action, "value": value, "ticket_ids": ids})
        assert r.status_code == 303, r.text
    r = await admin.post("/inbox/bulk", data={"action": "merge", "ticket_ids": ids})
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        first = await uow.session.get(Ticket, a["id"])
        second = await uow.session.get(Ticket, b["id"])
    assert first is not None and second is not None
    assert first.assignee_id == desk.olga.id and first.status == "open"
    assert second.merged_into_id == first.id
    page = await admin.get(f"/tickets/{first.id}")
    assert "срочно" in page.text
    before = await snapshot(runtime)
    r = await admin.post("/inbox/bulk", data={"action": "explode", "ticket_ids": ids})
    assert r.status_code == 422
    assert await snapshot(runtime) == before


async def test_html_mail_is_served_sanitised_in_its_own_locked_down_document(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    r = await client.post(
        f"/api/v1/tickets/{ticket['id']}/messages",
        json={
            "text": "plain",
            "author": "customer",
            "html": '<p onclick="steal()">Привет<script>alert(1)</script><img src="http://tracker.example/p.gif"></p>',
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201
    message_id = r.json()["id"]
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    page = await olga.get(f"/tickets/{ticket['id']}")
    assert f'src="/ui/messages/{message_id}/frame"' in page.text
    assert 'sandbox="allow-same-origin' in page.text and "allow-scripts" not in page.text
    frame = await olga.get(f"/ui/messages/{message_id}/frame")
    assert frame.status_code == 200
    csp = frame.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "<script" not in frame.text and "onclick" not in frame.text and "Привет" in frame.text
    pavel: PageSession = await login(desk.pavel)  # type: ignore[operator]
    assert (await pavel.get(f"/ui/messages/{message_id}/frame")).status_code == 403


async def test_language_switch_is_remembered_per_agent(
    client: httpx.AsyncClient, desk: Desk, login: object, runtime: Runtime
) -> None:
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    assert "Входящие" in (await olga.get("/inbox")).text
    r = await olga.post("/language", data={"language": "en", "next": "/inbox"})
    assert r.status_code == 303
    page = await olga.get("/inbox")
    assert ">Inbox<" in page.text and "Входящие" not in page.text
    async with runtime.db.uow() as uow:
        agent = await uow.session.get(Agent, desk.olga.id)
    assert agent is not None and agent.language == "en"


async def test_template_picker_finds_and_fills_a_template_for_the_ticket(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    r = await client.post(
        "/api/v1/canned",
        json={"title": "Заказ в пути", "body": "Здравствуйте, {{customer.first_name}}! {{agent.name}}"},
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    canned_id = r.json()["id"]
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    picker = await olga.get(f"/ui/canned?ticket_id={ticket['id']}&q=пути")
    assert picker.status_code == 200, picker.text
    assert f'data-canned-id="{canned_id}"' in picker.text
    filled = await olga.get(f"/ui/canned/{canned_id}/text?ticket_id={ticket['id']}")
    assert filled.text == "Здравствуйте, Иван! Olga"
    pavel: PageSession = await login(desk.pavel)  # type: ignore[operator]
    assert (await pavel.get(f"/ui/canned/{canned_id}/text?ticket_id={ticket['id']}")).status_code in (
        403,
        404,
    )


async def test_notifications_panel_lists_mentions_and_marks_them_read(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    sergey: PageSession = await login(desk.supervisor)  # type: ignore[operator]
    r = await olga.post(f"/tickets/{ticket['id']}/reply", data={"text": "@sergey глянь", "mode": "note"})
    assert r.status_code == 303
    assert (await sergey.get("/ui/notifications/count")).text == "1"
    panel = await sergey.get("/ui/notifications")
    assert "вас упомянули" in panel.text and "Olga" in panel.text and f"/tickets/{ticket['id']}" in panel.text
    r = await sergey.post("/ui/notifications/read", headers={"HX-Request": "true"})
    assert r.status_code == 204
    assert (await sergey.get("/ui/notifications/count")).text == "0"


async def test_sla_column_and_the_at_risk_view(client: httpx.AsyncClient, desk: Desk, login: object) -> None:
    r = await client.post(
        "/api/v1/sla/policies",
        json={
            "name": "Срочные",
            "conditions": {"priorities": ["urgent"]},
            "targets": {"first_response": {"minutes": 30, "business": False}},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    urgent = await make_ticket(
        client, desk.admin_h, subject="Горит", team_id=desk.support.id, priority="urgent"
    )
    calm = await make_ticket(
        client, desk.admin_h, subject="Не горит", team_id=desk.support.id, email="b@example.com"
    )
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    page = await olga.get("/inbox?view=all")
    row = page.text.split(f'data-ticket-id="{urgent["id"]}"')[1].split("</tr>")[0]
    assert "data-countdown=" in row
    at_risk = await olga.get("/inbox?view=sla")
    assert "Горит" in at_risk.text and "Не горит" not in at_risk.text
    ticket_page = await olga.get(f"/tickets/{urgent['id']}")
    assert "data-countdown=" in ticket_page.text
    assert calm["id"] != urgent["id"]


async def test_the_live_refresh_renders_the_list_block_alone(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    await make_ticket(client, desk.admin_h, subject="Обновись", team_id=desk.support.id)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get("/inbox?view=all", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="ticket-list"') and "Обновись" in r.text
    for part in ("head", "timeline", "side"):
        ticket_id = r.text.split('data-ticket-id="')[1].split('"')[0]
        assert (await olga.get(f"/tickets/{ticket_id}/parts/{part}")).status_code == 200
