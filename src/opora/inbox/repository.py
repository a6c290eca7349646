"""All SQL of the inbox: raw payloads and the look-ups threading needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opora.customers.models import Customer, CustomerIdentity
from opora.inbox.models import InboundPayload, PayloadState
from opora.kit.time import utcnow
from opora.tickets.models import Message, Ticket

# The first key of PostgreSQL's two-key advisory locks, so Opora's inbox locks collide with nothing else.
INBOX_LOCK_SPACE = 0x0B0A


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


async def lock_channel_inbox(session: AsyncSession, channel_id: int) -> None:
    """Serialise processing per channel until commit (PostgreSQL; SQLite's single writer already
    does). A reply must not be threaded while its parent sits in another worker's open batch."""
    await session.execute(select(func.pg_advisory_xact_lock(INBOX_LOCK_SPACE, channel_id)))


async def next_received_ids(session: AsyncSession, *, channel_id: int, exclude: int, limit: int) -> list[int]:
    query = (
        select(InboundPayload.id)
        .where(
            InboundPayload.state == PayloadState.RECEIVED,
            InboundPayload.channel_id == channel_id,
            InboundPayload.id != exclude,
        )
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


async def customers_by_identity(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(kind, value) → the customer who owns it now (a merged owner forwards to its survivor)."""
    if not pairs:
        return {}
    query = (
        select(CustomerIdentity.kind, CustomerIdentity.value, Customer.id, Customer.merged_into_id)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(tuple_(CustomerIdentity.kind, CustomerIdentity.value).in_(sorted(set(pairs))))
    )
    return {(kind, value): merged or cid for kind, value, cid, merged in (await session.execute(query)).all()}


async def insert_identities(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    # A concurrent transaction that claimed one of these identities makes this fail; the caller
    # redoes the batch payload by payload, where the look-up then finds the winner.
    if rows:
        await session.execute(insert(CustomerIdentity), list(rows))


async def recent_inbound_counts(
    session: AsyncSession, customer_ids: Sequence[int], since: datetime
) -> dict[int, int]:
    if not customer_ids:
        return {}
    query = (
        select(Message.author_customer_id, func.count())
        .where(
            Message.author_customer_id.in_(sorted(set(customer_ids))),
            Message.direction == "in",
            Message.created_at >= since,
        )
        .group_by(Message.author_customer_id)
    )
    return {cid: int(n) for cid, n in (await session.execute(query)).all() if cid is not None}


async def tickets_by_reference(
    session: AsyncSession, refs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """(channel id, provider message id) → ticket id, for replies to stored messages."""
    if not refs:
        return {}
    query = select(Message.channel_id, Message.external_id, Message.ticket_id).where(
        tuple_(Message.channel_id, Message.external_id).in_(sorted(set(refs)))
    )
    return {(ch, ext): tid for ch, ext, tid in (await session.execute(query)).all() if ch is not None and ext}


async def latest_tickets(
    session: AsyncSession, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """(customer id, channel id) → the customer's newest ticket on that channel."""
    if not pairs:
        return {}
    query = (
        select(Ticket.customer_id, Ticket.channel_id, func.max(Ticket.id))
        .where(
            tuple_(Ticket.customer_id, Ticket.channel_id).in_(sorted(set(pairs))),
            Ticket.merged_into_id.is_(None),
        )
        .group_by(Ticket.customer_id, Ticket.channel_id)
    )
    return {(cid, ch): tid for cid, ch, tid in (await session.execute(query)).all() if ch is not None}


async def load_tickets(session: AsyncSession, ids: Sequence[int], *, lock: bool) -> dict[int, Ticket]:
    if not ids:
        return {}
    query = select(Ticket).where(Ticket.id.in_(sorted(set(ids)))).order_by(Ticket.id)
    if lock:
        # Id order, like every other multi-ticket lock, so two batches cannot deadlock.
        query = query.with_for_update()
    return {ticket.id: ticket for ticket in (await session.scalars(query)).all()}


async def insert_returning_ids(
    session: AsyncSession, model: type[Any], rows: Sequence[dict[str, Any]]
) -> list[int]:
    if not rows:
        return []
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list((await session.scalars(statement, list(rows))).all())


async def mark_bounced(session: AsyncSession, channel_id: int, external_id: str, reason: str) -> None:
    await session.execute(
        update(Message)
        .where(
            Message.channel_id == channel_id, Message.external_id == external_id, Message.direction == "out"
        )
        .values(delivery_status="failed", delivery_error=reason)
    )


async def outbound_by_provider_id(
    session: AsyncSession, refs: Sequence[tuple[int, str]]
) -> list[tuple[Message, int | None, int | None]]:
    """Our sent messages named by (channel id, provider id), locked, with their ticket's team and
    assignee (for the live event): one query for a whole batch of delivery reports."""
    if not refs:
        return []
    query = (
        select(Message, Ticket.team_id, Ticket.assignee_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            tuple_(Message.channel_id, Message.external_id).in_(sorted(set(refs))),
            Message.direction == "out",
        )
        .order_by(Message.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Message)
    return [(m, team, assignee) for m, team, assignee in (await session.execute(query)).all()]
