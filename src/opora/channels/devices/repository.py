"""All SQL of the device channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels.devices.models import DeviceAlert, DeviceEvent
from opora.channels.models import Channel
from opora.customers.models import Customer, CustomerIdentity
from opora.tickets.models import Message, Ticket

# Advisory-lock key space of device processing (the inbox uses 0x0B0A).
DEVICE_LOCK_SPACE = 0x0DE7


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Store an event once per (channel, event id); None when it was stored before."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(DeviceEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel_id", "event_id"])
        .returning(DeviceEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def lock_channel(session: AsyncSession, channel_id: int) -> None:
    """One device event of a channel at a time (PostgreSQL), so that two events of the same
    device and code cannot both open a ticket; SQLite's single writer already serialises."""
    await session.execute(select(func.pg_advisory_xact_lock(DEVICE_LOCK_SPACE, channel_id)))


async def get_event(session: AsyncSession, row_id: int) -> DeviceEvent | None:
    return await session.get(DeviceEvent, row_id)


async def channel_of_event(session: AsyncSession, row_id: int) -> int | None:
    return await session.scalar(select(DeviceEvent.channel_id).where(DeviceEvent.id == row_id))


async def owners(session: AsyncSession, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not pairs:
        return {}
    query = (
        select(CustomerIdentity.kind, CustomerIdentity.value, Customer.id, Customer.merged_into_id)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(tuple_(CustomerIdentity.kind, CustomerIdentity.value).in_(sorted(set(pairs))))
    )
    return {(k, v): merged or cid for k, v, cid, merged in (await session.execute(query)).all()}


async def get_alert(session: AsyncSession, channel_id: int, device_id: str, code: str) -> DeviceAlert | None:
    query = select(DeviceAlert).where(
        DeviceAlert.channel_id == channel_id, DeviceAlert.device_id == device_id, DeviceAlert.code == code
    )
    return (await session.scalars(query)).first()


async def add_alert(session: AsyncSession, alert: DeviceAlert) -> None:
    session.add(alert)
    await session.flush()


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def get_customer(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def recent_reply_channel(
    session: AsyncSession, customer_id: int, exclude_types: Sequence[str]
) -> Channel | None:
    """The active channel the customer last wrote on that can carry a reply."""
    query = (
        select(Channel)
        .join(Message, Message.channel_id == Channel.id)
        .where(
            Message.author_customer_id == customer_id,
            Message.direction == "in",
            Channel.is_active.is_(True),
            Channel.type.not_in(list(exclude_types)),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def first_active_channel(session: AsyncSession, type_name: str) -> Channel | None:
    query = (
        select(Channel)
        .where(Channel.type == type_name, Channel.is_active.is_(True))
        .order_by(Channel.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def identity_value(session: AsyncSession, customer_id: int, kind: str) -> str | None:
    query = (
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == kind)
        .order_by(CustomerIdentity.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def add_identity(session: AsyncSession, customer_id: int, kind: str, value: str) -> None:
    session.add(CustomerIdentity(customer_id=customer_id, kind=kind, value=value))
    await session.flush()


async def add_message(session: AsyncSession, message: Message) -> Message:
    session.add(message)
    await session.flush()
    return message
