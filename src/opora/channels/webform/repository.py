"""All SQL of the web-form channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels.models import Channel
from opora.channels.webform.models import WebformSubmission
from opora.customers.models import CustomerIdentity
from opora.tickets.models import Message


async def active_forms(session: AsyncSession, type_name: str) -> Sequence[Channel]:
    # A desk has a handful of forms; matching the key in Python keeps the settings column plain JSON.
    query = select(Channel).where(Channel.type == type_name, Channel.is_active.is_(True))
    return (await session.scalars(query)).all()


async def count_since(
    session: AsyncSession,
    channel_id: int,
    *,
    since: datetime,
    ip: str | None = None,
    email: str | None = None,
) -> int:
    query = (
        select(func.count())
        .select_from(WebformSubmission)
        .where(WebformSubmission.channel_id == channel_id, WebformSubmission.created_at >= since)
    )
    if ip is not None:
        query = query.where(WebformSubmission.ip == ip)
    if email is not None:
        query = query.where(WebformSubmission.email == email)
    return int(await session.scalar(query) or 0)


async def insert_submission(session: AsyncSession, row: WebformSubmission) -> None:
    session.add(row)
    await session.flush()


async def ticket_of(session: AsyncSession, channel_id: int, external_id: str) -> int | None:
    query = select(Message.ticket_id).where(
        Message.channel_id == channel_id, Message.external_id == external_id
    )
    return (await session.scalars(query)).first()


async def identity_owner(session: AsyncSession, kind: str, value: str) -> int | None:
    query = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == kind, CustomerIdentity.value == value
    )
    return (await session.scalars(query)).first()


async def add_identity(session: AsyncSession, customer_id: int, kind: str, value: str, at: datetime) -> None:
    session.add(CustomerIdentity(customer_id=customer_id, kind=kind, value=value, created_at=at))
    await session.flush()
