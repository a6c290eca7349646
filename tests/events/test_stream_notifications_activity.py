"""One stream per browser: ticket events, the agent's own notifications, colleagues' activity."""

import contextlib
from datetime import datetime
from typing import Any

import httpx

from opora.runtime import Runtime
from tests.events.helpers import EventReader, Frame, LiveServer
from tests.notifications.helpers import new_ticket, note
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

STREAM = "/api/v1/stream"


async def open_stream(
    stack: contextlib.AsyncExitStack, http: httpx.AsyncClient, headers: dict[str, str]
) -> EventReader:
    response = await stack.enter_async_context(http.stream("GET", STREAM, headers=headers))
    assert response.status_code == 200
    reader = EventReader(response)
    assert (await reader.frame()).comments == ["connected"]
    return reader


async def next_named(reader: EventReader, event: str) -> Frame:
    """The next frame of this kind; ticket events in between are skipped."""
    while True:
        frame = await reader.event()
        if frame.event == event:
            return frame


async def activity(http: httpx.AsyncClient, headers: dict[str, str], ticket_id: int, state: str) -> Any:
    r = await http.post(f"/api/v1/tickets/{ticket_id}/activity", json={"state": state}, headers=headers)
    assert r.status_code == 202, r.text
    return r.json()


async def test_a_notification_reaches_only_its_agent(live_server: LiveServer, desk: Desk) -> None:
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        support = await new_ticket(http, desk.admin_h, team_id=desk.support.id)
        billing = await new_ticket(http, desk.admin_h, team_id=desk.billing.id)
        olga = await open_stream(stack, http, desk.olga_h)
        pavel = await open_stream(stack, http, desk.pavel_h)
        admin = await open_stream(stack, http, desk.admin_h)

        first = await note(http, desk.admin_h, support, "@olga глянь, пожалуйста")
        # Olga's notification went out first; if Pavel or Anna got it, they read it before this one.
        await note(http, desk.supervisor_h, billing, "@pavel и @anna, ваш заказ")

        frame = await next_named(olga, "notification")
        assert frame.id is None  # only ticket events carry ids the browser replays from
        body = frame.json
        assert body["type"] == "created" and body["agent_id"] == desk.olga.id
        assert (body["kind"], body["ticket_id"], body["message_id"]) == ("mention", support, first)
        assert body["text"] == "@olga глянь, пожалуйста" and body["actor_id"] == desk.admin.id
        for reader, agent in ((pavel, desk.pavel), (admin, desk.admin)):
            mine = (await next_named(reader, "notification")).json
            assert mine["agent_id"] == agent.id and mine["ticket_id"] == billing

        # Marking read tells the agent's other tabs, so badges agree.
        r = await http.post("/api/v1/notifications/read", json={"all": True}, headers=desk.olga_h)
        assert r.status_code == 200
        read = (await next_named(olga, "notification")).json
        assert read == {"type": "read", "agent_id": desk.olga.id, "ids": [body["id"]], "unread": 0}


async def test_activity_reaches_colleagues_who_may_see_the_ticket(
    live_server: LiveServer, desk: Desk, runtime: Runtime
) -> None:
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        support = await new_ticket(http, desk.admin_h, team_id=desk.support.id)
        billing = await new_ticket(http, desk.admin_h, team_id=desk.billing.id)
        olga = await open_stream(stack, http, desk.olga_h)
        rita = await open_stream(stack, http, desk.reader_h)  # Support, read-only
        pavel = await open_stream(stack, http, desk.pavel_h)  # Billing
        sergey = await open_stream(stack, http, desk.supervisor_h)

        before = await snapshot(runtime)
        answer = await activity(http, desk.olga_h, support, "typing")
        assert answer["ticket_id"] == support and answer["state"] == "typing" and answer["expires_in"] > 0
        assert await snapshot(runtime) == before  # collision detection stores nothing
        # Sentinels: the first activity frame each agent gets shows what it did not get before.
        await activity(http, desk.admin_h, billing, "viewing")
        await activity(http, desk.admin_h, support, "left")

        for reader in (rita, sergey):
            frame = await next_named(reader, "activity")
            assert frame.id is None
            body = frame.json
            assert (body["ticket_id"], body["agent_id"], body["agent_name"], body["state"]) == (
                support,
                desk.olga.id,
                "Olga",
                "typing",
            )
            assert body["team_id"] == desk.support.id
            assert datetime.fromisoformat(body["at"]) == datetime.fromisoformat(answer["at"])
        assert (await next_named(pavel, "activity")).json["ticket_id"] == billing
        # Olga is not warned about herself.
        own = (await next_named(olga, "activity")).json
        assert (own["agent_id"], own["ticket_id"], own["state"]) == (desk.admin.id, support, "left")


async def test_activity_needs_a_ticket_the_caller_may_see(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    billing = await new_ticket(client, desk.admin_h, team_id=desk.billing.id)
    url = f"/api/v1/tickets/{billing}/activity"
    assert (await client.post(url, json={"state": "viewing"}, headers=desk.olga_h)).status_code == 403
    assert (await client.post(url, json={"state": "sleeping"}, headers=desk.pavel_h)).status_code == 422
    assert (await client.post(url, json={"state": "viewing"})).status_code == 401
    missing = await client.post(
        "/api/v1/tickets/999999/activity", json={"state": "left"}, headers=desk.admin_h
    )
    assert missing.status_code == 404
    assert (await client.post(url, json={"state": "viewing"}, headers=desk.pavel_h)).status_code == 202
