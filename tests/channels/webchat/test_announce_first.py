"""A visitor's message is announced to agents as soon as it is stored; its reactions (SLA,
routing, rules, the bot, figures) follow in a transaction of their own, and a job redoes them
if the process dies in between (ADR 0040)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from opora.analytics.models import TicketFact
from opora.events import reactions
from opora.events.models import TicketEvent
from opora.events.service import TICKET_TOPIC
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.channels.webchat.support import AsgiSocket, session


async def _write(app: FastAPI, http: httpx.AsyncClient, text: str = "Где мой заказ?") -> int:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": text})
        stored = (await socket.receive_types("ack", "message"))["message"]
    return int(stored["message"]["ticket_id"])


async def _state(runtime: Runtime, ticket_id: int) -> dict[str, Any]:
    async with runtime.db.reader() as uow:
        ticket = await uow.session.get(Ticket, ticket_id)
        assert ticket is not None
        kinds = (
            await uow.session.scalars(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
            )
        ).all()
        facts = await uow.session.scalar(
            select(func.count()).select_from(TicketFact).where(TicketFact.ticket_id == ticket_id)
        )
        jobs = (
            await uow.session.execute(
                select(Job.state, Job.run_at).where(Job.task == reactions.DEFERRED_TASK)
            )
        ).all()
        return {"assignee": ticket.assignee_id, "kinds": list(kinds), "facts": int(facts or 0), "jobs": jobs}


@pytest.fixture
def extra_reactors() -> Any:
    """Reactors a test registers for one test only (the registry is the process's)."""
    names: list[str] = []

    def register(fn: reactions.Reactor, *kinds: str) -> None:
        name = f"test.{fn.__name__}"
        names.append(name)
        reactions.reactor(*kinds, order=1, name=name)(fn)

    yield register
    reactions._registry[:] = [r for r in reactions._registry if r.name not in names]


def _rescue_clock() -> Any:
    # A worker that looks RESCUE_AFTER ahead: the safety-net job is due for it.
    return lambda: utcnow() + reactions.RESCUE_AFTER + timedelta(seconds=1)


async def test_agents_hear_of_the_message_before_its_reactions_run(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, extra_reactors: Any
) -> None:
    gate = asyncio.Event()

    async def wait_for_gate(uow: Any, facts: Any) -> None:
        await gate.wait()

    extra_reactors(wait_for_gate, "message_added")
    subscription = await runtime.bus.open(TICKET_TOPIC)
    writing = asyncio.create_task(_write(app, http))
    # The stream has the message while its reactions are still held at the gate.
    while (event := (await asyncio.wait_for(subscription.receive(), 30))[1])["kind"] != "message_added":
        pass
    before = await _state(runtime, int(event["ticket_id"]))
    assert before["kinds"] == ["ticket_created", "message_added"]
    assert before["facts"] == 0
    assert [state for state, _ in before["jobs"]] == ["queued"]
    gate.set()
    ticket_id = await asyncio.wait_for(writing, 30)
    after = await _state(runtime, ticket_id)
    # The reactions ran in this process, and the safety-net job was completed by them.
    assert after["kinds"][:2] == ["ticket_created", "message_added"]
    assert "topic_changed" in after["kinds"] and after["facts"] > 0
    assert [state for state, _ in after["jobs"]] == ["done"]
    await subscription.aclose()


async def test_a_process_that_dies_after_the_commit_loses_no_reaction(
    app: FastAPI,
    http: httpx.AsyncClient,
    chat: dict[str, Any],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def died(*_args: Any) -> None:
        return None  # the process stopped between the commit and the reactions

    monkeypatch.setattr(reactions, "_run_deferred", died)
    ticket_id = await _write(app, http)
    left = await _state(runtime, ticket_id)
    assert left["kinds"] == ["ticket_created", "message_added"]
    assert left["facts"] == 0
    [(state, run_at)] = left["jobs"]
    assert state == "queued"
    assert run_at > utcnow() + reactions.RESCUE_AFTER - timedelta(seconds=5)
    # Not due yet: a worker now does not take it.
    assert await Worker(runtime, concurrency=1).run_until_idle() == 0
    assert await Worker(runtime, concurrency=1, clock=_rescue_clock()).run_until_idle() == 1
    done = await _state(runtime, ticket_id)
    assert done["kinds"][:2] == ["ticket_created", "message_added"]
    assert done["kinds"].count("topic_changed") == 1 and done["facts"] > 0
    assert [state for state, _ in done["jobs"]] == ["done"]


async def test_reactions_that_fail_are_redone_by_the_job(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, extra_reactors: Any
) -> None:
    calls: list[int] = []

    async def fails_once(uow: Any, facts: Any) -> None:
        calls.append(len(facts))
        if len(calls) == 1:
            raise RuntimeError("a reactor broke")

    extra_reactors(fails_once, "message_added")
    ticket_id = await _write(app, http)
    # The message and its announcement stand; the reactions rolled back together.
    failed = await _state(runtime, ticket_id)
    assert failed["kinds"] == ["ticket_created", "message_added"]
    assert [state for state, _ in failed["jobs"]] == ["queued"]
    assert await Worker(runtime, concurrency=1, clock=_rescue_clock()).run_until_idle() == 1
    done = await _state(runtime, ticket_id)
    assert calls == [1, 1]
    assert done["kinds"].count("topic_changed") == 1 and done["facts"] > 0
    assert [state for state, _ in done["jobs"]] == ["done"]


async def test_reactions_a_worker_took_over_are_not_run_twice(
    app: FastAPI,
    http: httpx.AsyncClient,
    chat: dict[str, Any],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[tuple[Any, ...]] = []
    run_deferred = reactions._run_deferred

    async def late(*args: Any) -> None:
        held.append(args)  # this process is slower than RESCUE_AFTER

    monkeypatch.setattr(reactions, "_run_deferred", late)
    ticket_id = await _write(app, http)
    assert await Worker(runtime, concurrency=1, clock=_rescue_clock()).run_until_idle() == 1
    [args] = held
    await run_deferred(*args)  # finds the job done and leaves the reactions to it
    done = await _state(runtime, ticket_id)
    assert done["kinds"].count("topic_changed") == 1
    assert done["kinds"].count("fields_changed") == 1
