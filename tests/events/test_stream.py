import asyncio
import contextlib

import httpx
import pytest
from sqlalchemy import text

from opora.events import endpoints as stream_endpoints
from opora.events.bus import RedisBus
from opora.runtime import Runtime
from tests.events.helpers import EventReader, LiveServer, emit, make_ticket
from tests.support.factories import PASSWORD, Desk

STREAM = "/api/v1/stream"


def stream_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("opora-stream-")]


async def open_stream(
    stack: contextlib.AsyncExitStack, http: httpx.AsyncClient, **kwargs: object
) -> EventReader:
    response = await stack.enter_async_context(http.stream("GET", STREAM, **kwargs))  # type: ignore[arg-type]
    assert response.status_code == 200
    reader = EventReader(response)
    hello = await reader.frame()
    assert hello.retry is not None
    assert hello.comments == ["connected"]
    return reader


async def test_agents_get_only_events_of_tickets_they_may_see(
    live_server: LiveServer, desk: Desk, runtime: Runtime
) -> None:
    support_ticket = await make_ticket(runtime, team_id=desk.support.id)
    billing_ticket = await make_ticket(runtime, team_id=desk.billing.id)
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        olga = await open_stream(stack, http, headers=desk.olga_h)
        pavel = await open_stream(stack, http, headers=desk.pavel_h)
        admin = await open_stream(stack, http, headers=desk.admin_h)

        support_event = await emit(runtime, support_ticket, team_id=desk.support.id)
        billing_event = await emit(runtime, billing_ticket, team_id=desk.billing.id)
        # A Billing ticket handed to Olga personally is hers to see as well.
        handed_over = await emit(
            runtime, billing_ticket, kind="ticket.assigned", team_id=desk.billing.id, assignee_id=desk.olga.id
        )

        # Events arrive in order, so the first one each agent gets proves what was skipped.
        assert [int((await olga.event()).id or 0) for _ in range(2)] == [support_event, handed_over]
        assert [int((await pavel.event()).id or 0) for _ in range(2)] == [billing_event, handed_over]
        assert [int((await admin.event()).id or 0) for _ in range(3)] == [
            support_event,
            billing_event,
            handed_over,
        ]


async def test_frames_carry_id_kind_and_json(live_server: LiveServer, desk: Desk, runtime: Runtime) -> None:
    ticket = await make_ticket(runtime, team_id=desk.support.id)
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        response = await stack.enter_async_context(http.stream("GET", STREAM, headers=desk.olga_h))
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        reader = EventReader(response)
        event_id = await emit(runtime, ticket, kind="ticket.status_changed", team_id=desk.support.id)
        frame = await reader.event()
    assert frame.id == str(event_id)
    assert frame.event == "ticket.status_changed"
    body = frame.json
    assert body["id"] == event_id
    assert body["ticket_id"] == ticket
    assert body["kind"] == "ticket.status_changed"
    assert body["team_id"] == desk.support.id
    assert body["actor_type"] == "system"
    assert body["data"] == {"n": 1}


async def test_event_committed_right_after_connect_is_delivered(
    live_server: LiveServer, desk: Desk, runtime: Runtime
) -> None:
    ticket = await make_ticket(runtime, team_id=desk.support.id)
    async with live_server.client() as http:
        for _ in range(10):
            async with http.stream("GET", STREAM, headers=desk.olga_h) as response:
                # No byte of the body read yet: the headers alone promise the subscription.
                event_id = await emit(runtime, ticket, team_id=desk.support.id)
                assert int((await EventReader(response).event()).id or 0) == event_id


async def test_stream_holds_no_database_connection(
    live_server: LiveServer, desk: Desk, runtime: Runtime
) -> None:
    pool = runtime.db.engine.pool
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        readers = [
            await open_stream(stack, http, headers=desk.olga_h),
            await open_stream(stack, http, headers=desk.admin_h),
        ]
        await asyncio.sleep(0.1)  # let both streams settle into waiting
        assert len(stream_tasks()) == 6
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        # The probe itself works: an open unit of work does show up.
        async with runtime.db.uow() as uow:
            await uow.session.execute(text("SELECT 1"))
            assert pool.checkedout() == 1  # type: ignore[attr-defined]
        assert len(readers) == 2


async def test_session_cookie_is_accepted(live_server: LiveServer, desk: Desk, runtime: Runtime) -> None:
    ticket = await make_ticket(runtime, team_id=desk.support.id)
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        login = await http.post("/api/v1/auth/login", json={"email": "olga@shop.test", "password": PASSWORD})
        assert login.status_code == 200
        reader = await open_stream(stack, http)
        event_id = await emit(runtime, ticket, team_id=desk.support.id)
        assert int((await reader.event()).id or 0) == event_id


async def test_unauthenticated_is_refused(client: httpx.AsyncClient, desk: Desk) -> None:
    missing = await client.get(STREAM)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    wrong = await client.get(STREAM, headers={"Authorization": "Bearer opr_not-a-token"})
    assert wrong.status_code == 401


async def test_heartbeat_keeps_an_idle_stream_talking(
    live_server: LiveServer, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_endpoints, "HEARTBEAT_SECONDS", 0.05)
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        reader = await open_stream(stack, http, headers=desk.olga_h)
        assert (await reader.frame()).comments == ["ping"]
        assert (await reader.frame()).comments == ["ping"]


async def test_stream_ends_at_its_maximum_age(
    live_server: LiveServer, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_endpoints, "MAX_STREAM_SECONDS", 0.2)
    async with live_server.client() as http, contextlib.AsyncExitStack() as stack:
        reader = await open_stream(stack, http, headers=desk.olga_h)
        with pytest.raises(EOFError):
            await reader.frame()


async def test_disconnect_stops_the_stream(live_server: LiveServer, desk: Desk, runtime: Runtime) -> None:
    ticket = await make_ticket(runtime, team_id=desk.support.id)
    async with live_server.client() as http:
        async with contextlib.AsyncExitStack() as stack:
            # Keep the readers: a collected reader closes its response, which is a disconnect too.
            readers = [
                await open_stream(stack, http, headers=desk.olga_h),
                await open_stream(stack, http, headers=desk.pavel_h),
            ]
            async with asyncio.timeout(5):
                while len(stream_tasks()) < 6:  # pump, watcher and writer per stream
                    await asyncio.sleep(0.01)
            assert len(readers) == 2
        async with asyncio.timeout(5):
            while stream_tasks() or live_server.server.server_state.tasks:
                await asyncio.sleep(0.01)
    # Publishing to the topic with nobody left listening is harmless.
    await emit(runtime, ticket, team_id=desk.support.id)


async def test_unreachable_bus_is_503(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_bus = RedisBus("redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(runtime, "bus", dead_bus)
    try:
        r = await client.get(STREAM, headers=desk.olga_h)
    finally:
        await dead_bus.close()
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "live_updates_unavailable"
