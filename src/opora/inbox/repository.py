"""All SQL of the inbox: raw payloads and the look-ups threading needs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opora.inbox.models import InboundPayload, PayloadState
from opora.kit.time import utcnow
from opora.tickets.models import Message, Ticket


async def insert_payload(
    session: AsyncSession,
    *,
    channel_id: int,
    external_id: str,
    content_type: str,
    encoding: str,
    payload: str,
) -> int | None:
    """Store a payload once per (channel, external id); ``None`` when it was already stored."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(InboundPayload)
        .values(
            channel_id=channel_id,
            external_id=external_id,
            content_type=content_type,
            encoding=encoding,
            payload=payload,
            state=PayloadState.RECEIVED,
            attempts=0,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
        .returning(InboundPayload.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def lock_received(
    session: AsyncSession, ids: Sequence[int], *, skip_locked: bool
) -> list[InboundPayload]:
    """The given payloads still waiting, locked for this transaction.

    On PostgreSQL two workers draining at once skip each other's rows instead of waiting;
    SQLite's single writer makes the lock implicit.
    """
    if not ids:
        return []
    query = (
        select(InboundPayload)
        .where(InboundPayload.id.in_(ids), InboundPayload.state == PayloadState.RECEIVED)
        .order_by(InboundPayload.id)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def next_received_ids(session: AsyncSession, *, exclude: int, limit: int) -> list[int]:
    query = (
        select(InboundPayload.id)
        .where(InboundPayload.state == PayloadState.RECEIVED, InboundPayload.id != exclude)
        .order_by(InboundPayload.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def get_payload(session: AsyncSession, payload_id: int) -> InboundPayload | None:
    return await session.get(InboundPayload, payload_id)


async def list_payloads(
    session: AsyncSession, *, state: str | None, limit: int, after_id: int | None
) -> Sequence[InboundPayload]:
    query = select(InboundPayload).order_by(InboundPayload.id.desc()).limit(limit)
    if state:
        query = query.where(InboundPayload.state == state)
    if after_id is not None:
        query = query.where(InboundPayload.id < after_id)
    return (await session.scalars(query)).all()


async def message_by_external_id(
    session: AsyncSession, channel_id: int, external_ids: Sequence[str]
) -> Message | None:
    """The newest stored message (either direction) carrying one of these provider ids."""
    if not external_ids:
        return None
    query = (
        select(Message)
        .where(Message.channel_id == channel_id, Message.external_id.in_(list(external_ids)))
        .order_by(Message.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def existing_external_ids(
    session: AsyncSession, channel_id: int, external_ids: Sequence[str]
) -> set[str]:
    """Which of these provider ids are already stored as messages of the channel: one query a batch."""
    if not external_ids:
        return set()
    query = select(Message.external_id).where(
        Message.channel_id == channel_id, Message.external_id.in_(sorted(set(external_ids)))
    )
    return {value for value in (await session.scalars(query)).all() if value is not None}


async def latest_ticket_of(session: AsyncSession, *, customer_id: int, channel_id: int) -> Ticket | None:
    query = (
        select(Ticket)
        .where(
            Ticket.customer_id == customer_id,
            Ticket.channel_id == channel_id,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def mark_outbound_failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(
        update(Message).where(Message.id == message_id).values(delivery_status="failed", delivery_error=error)
    )
