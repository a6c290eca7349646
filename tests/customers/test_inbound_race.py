"""Two messages from a new identity at the same moment make one customer.

Each channel's payloads are processed one transaction at a time, so the race is between two
channels: the same Telegram id writes to two bots at once and both batches run concurrently,
each in its own transaction. On PostgreSQL (OPORA_TEST_BACKEND=postgres) they truly overlap and
the unique (kind, value) constraint decides; on SQLite the write lock serialises them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from opora.channels.models import Channel
from opora.customers.models import Customer, CustomerIdentity
from opora.inbox import service
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.inbox.fake_channel import TYPE, fake_channel_type


@pytest.fixture(autouse=True)
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


async def test_two_messages_from_a_new_identity_at_once_make_one_customer(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        bots = [Channel(type=TYPE, name=f"Bot {n}", settings={}, secrets_encrypted="") for n in (1, 2)]
        uow.session.add_all(bots)
    payload_ids = []
    for n, bot in enumerate(bots):
        async with runtime.db.uow() as uow:
            body = {"id": f"m{n}", "from": "777", "name": "Вера", "text": f"Сообщение {n}"}
            received = await service.receive(
                uow,
                channel_id=bot.id,
                external_id=f"p{n}",
                payload=json.dumps(body).encode(),
                content_type="application/json",
            )
        assert received.payload_id is not None
        payload_ids.append(received.payload_id)

    async def process(payload_id: int) -> int:
        async with runtime.db.uow() as uow:
            return await service.process(uow, runtime, payload_id)

    assert await asyncio.gather(*(process(p) for p in payload_ids)) == [1, 1]

    async with runtime.db.uow() as uow:
        customers = (await uow.session.scalars(select(Customer))).all()
        identities = (await uow.session.scalars(select(CustomerIdentity))).all()
        owners = set((await uow.session.scalars(select(Ticket.customer_id))).all())
        tickets = await uow.session.scalar(select(func.count()).select_from(Ticket))
    assert len(customers) == 1 and tickets == 2
    assert [(i.kind, i.value, i.customer_id) for i in identities] == [("telegram", "777", customers[0].id)]
    assert owners == {customers[0].id}
    # The figures count both tickets: the second transaction counted after the first committed.
    assert customers[0].tickets_count == 2
