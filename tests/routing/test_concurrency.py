"""Concurrent transactions never assign past an agent's capacity (meant for PostgreSQL; SQLite
serialises writers and must give the same answer)."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from opora.agents.models import Presence, Role
from opora.auth.permissions import Principal
from opora.customers.models import Customer
from opora.events.service import SYSTEM
from opora.routing import service
from opora.routing.decide import Policy
from opora.routing.schemas import AgentRoutingUpdate, TeamRoutingUpdate
from opora.runtime import Runtime
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import Ticket
from opora.tickets.schemas import TicketUpdate
from tests.support.factories import Desk, make_agent

CAPACITY = 2
WORKERS = 8
TICKETS_PER_WORKER = 6


async def _loads(runtime: Runtime) -> Counter[int]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(
            select(Ticket.assignee_id).where(
                Ticket.assignee_id.is_not(None), Ticket.status.in_([Status.NEW, Status.OPEN])
            )
        )
        return Counter(a for a in rows.all() if a is not None)


async def test_concurrent_transactions_never_assign_past_capacity(runtime: Runtime, desk: Desk) -> None:
    team = desk.support.id
    extra = [await make_agent(runtime, email=f"agent{i}@shop.test", team_ids=[team]) for i in range(3)]
    agent_ids = [desk.olga.id, *(a.id for a in extra)]
    async with runtime.db.uow() as uow:
        await service.update_team_settings(uow, team, TeamRoutingUpdate(policy=Policy.LEAST_LOADED))
        for agent_id in agent_ids:
            await service.update_agent_settings(
                uow, agent_id, AgentRoutingUpdate(capacity={"chat": CAPACITY}, default_capacity=0)
            )
        customer = Customer(name="Ирина")
        uow.session.add(customer)
        await uow.session.flush()

    # Presence comes online concurrently with the first tickets arriving.
    async def come_online(agent_id: int) -> None:
        async with runtime.db.uow() as uow:
            await service.set_presence(uow, agent_id, Presence.ONLINE, actor_id=agent_id)

    async def arrive(worker: int) -> None:
        for i in range(TICKETS_PER_WORKER):
            async with runtime.db.uow() as uow:
                await tickets_service.open_ticket(
                    uow,
                    actor=SYSTEM,
                    customer=customer,
                    subject=f"chat {worker}-{i}",
                    channel_type="chat",
                    channel_id=None,
                    team_id=team,
                )

    await asyncio.gather(*(arrive(w) for w in range(WORKERS)), *(come_online(a) for a in agent_ids))
    loads = await _loads(runtime)
    assert set(loads) <= set(agent_ids)
    assert all(count <= CAPACITY for count in loads.values()), loads
    # Every agent came online with room, and there are more tickets than room: all are full.
    assert loads == {agent_id: CAPACITY for agent_id in agent_ids}

    # Agents solve their tickets concurrently; each solve serves the queue in its own transaction.
    admin = Principal(agent_id=desk.admin.id, role=Role.ADMIN, team_ids=frozenset(), via="token")
    for _round in range(2):
        async with runtime.db.uow() as uow:
            assigned = (
                await uow.session.scalars(
                    select(Ticket.id).where(Ticket.assignee_id.is_not(None), Ticket.status == Status.NEW)
                )
            ).all()

        async def solve(ticket_id: int) -> None:
            async with runtime.db.uow() as uow:
                await tickets_service.update_ticket(uow, admin, ticket_id, TicketUpdate(status=Status.SOLVED))

        await asyncio.gather(*(solve(t) for t in assigned))
        loads = await _loads(runtime)
        assert loads == {agent_id: CAPACITY for agent_id in agent_ids}, loads

    # Concurrent passes over the same queue (workers running the retry job at once) add nothing.
    async def serve() -> None:
        async with runtime.db.uow() as uow:
            await service.route_teams(uow, [team])

    await asyncio.gather(*(serve() for _ in range(6)))
    assert await _loads(runtime) == {agent_id: CAPACITY for agent_id in agent_ids}
    async with runtime.db.uow() as uow:
        waiting = await service.queue(uow, team)
    solved_or_held = 2 * len(agent_ids) * CAPACITY + len(agent_ids) * CAPACITY
    assert len(waiting) == WORKERS * TICKETS_PER_WORKER - solved_or_held
