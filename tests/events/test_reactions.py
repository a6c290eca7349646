"""Reactions run inside the transaction of the event that caused them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest
from sqlalchemy import func, select

from opora.db import UnitOfWork
from opora.events import reactions
from opora.events.models import TicketEvent
from opora.events.reactions import Fact
from opora.events.service import SYSTEM, record
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.support.factories import Desk


@pytest.fixture
def scratch_reactors() -> Iterator[list[str]]:
    before = list(reactions._registry)
    yield []
    reactions._registry[:] = before


async def test_reactor_sees_the_ticket_created_by_the_api_and_its_change_commits_with_it(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, scratch_reactors: list[str]
) -> None:
    @reactions.reactor("ticket_created", name="test.tag_new")
    async def _tag(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
        for fact in facts:
            ticket = await uow.session.get(Ticket, fact.ticket_id)
            assert ticket is not None
            ticket.topic = "seen-by-reactor"

    r = await client.post(
        "/api/v1/tickets",
        json={
            "subject": "Где заказ?",
            "customer": {"identity": {"kind": "email", "value": "ivan@example.com"}},
            "message": {"text": "Здравствуйте"},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    async with runtime.db.uow() as uow:
        ticket = await uow.session.get(Ticket, r.json()["id"])
        assert ticket is not None and ticket.topic == "seen-by-reactor"


async def test_a_failing_reactor_rolls_back_the_change_that_caused_it(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, scratch_reactors: list[str]
) -> None:
    @reactions.reactor("ticket_created", name="test.boom")
    async def _boom(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
        raise RuntimeError("reactor bug")

    r = await client.post(
        "/api/v1/tickets",
        json={
            "subject": "x",
            "customer": {"identity": {"kind": "email", "value": "ivan@example.com"}},
            "message": {"text": "y"},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 500
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_a_reactor_that_keeps_triggering_itself_is_stopped(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, scratch_reactors: list[str]
) -> None:
    depths: list[int] = []

    @reactions.reactor("ticket_created", "echo", name="test.echo")
    async def _echo(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
        for fact in facts:
            depths.append(fact.depth)
            await record(uow, ticket_id=fact.ticket_id, kind="echo", actor=SYSTEM)

    r = await client.post(
        "/api/v1/tickets",
        json={
            "subject": "x",
            "customer": {"identity": {"kind": "email", "value": "ivan@example.com"}},
            "message": {"text": "y"},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201
    assert depths == list(range(reactions.MAX_ROUNDS))
    async with runtime.db.uow() as uow:
        echoes = await uow.session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "echo")
        )
    assert echoes == reactions.MAX_ROUNDS
