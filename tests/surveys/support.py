"""Tickets on a channel that can send (the fake chat channel), and running the queued jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from opora.channels.models import Channel
from opora.customers import service as customers_service
from opora.events.models import TicketEvent
from opora.events.service import SYSTEM
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets import service as tickets_service
from tests.inbox.fake_channel import TYPE, fake_channel_type


@contextmanager
def sending_channel() -> Iterator[None]:
    with fake_channel_type():
        yield


async def make_channel(runtime: Runtime) -> int:
    async with runtime.db.uow() as uow:
        row = Channel(type=TYPE, name="chat", settings={}, secrets_encrypted="")
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def make_ticket(
    runtime: Runtime,
    channel_id: int | None,
    *,
    email: str = "irina@example.com",
    name: str = "Ирина Петрова",
    topic: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    language: str | None = None,
) -> int:
    async with runtime.db.uow() as uow:
        customer = await customers_service.find_or_create_by_identity(uow, "email", email, name=name)
        ticket = await tickets_service.open_ticket(
            uow,
            actor=SYSTEM,
            customer=customer,
            subject="Оплата не проходит",
            channel_type=TYPE if channel_id else "api",
            channel_id=channel_id,
            topic=topic,
            team_id=team_id,
            assignee_id=assignee_id,
            language=language,
        )
        return ticket.id


async def drain(runtime: Runtime) -> int:
    return await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def event_kinds(runtime: Runtime, ticket_id: int) -> list[str]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return list(rows)
