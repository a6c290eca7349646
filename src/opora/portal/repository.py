"""All SQL of the portal: sign-in rows, the customer's tickets and their public messages, and
the public entry points (web forms, chat) the "still need help" box links to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels.models import Channel
from opora.portal.models import PortalLogin
from opora.tickets.models import Message, Ticket


async def insert_login(session: AsyncSession, login: PortalLogin) -> PortalLogin:
    session.add(login)
    await session.flush()
    return login


async def get_login(session: AsyncSession, login_id: int, *, lock: bool = False) -> PortalLogin | None:
    query = select(PortalLogin).where(PortalLogin.id == login_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def login_by_session(session: AsyncSession, session_hash: str) -> PortalLogin | None:
    query = select(PortalLogin).where(PortalLogin.session_hash == session_hash)
    return (await session.scalars(query)).first()


async def recent_requests(session: AsyncSession, email: str, *, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(PortalLogin)
        .where(PortalLogin.email == email, PortalLogin.created_at >= since)
    )
    return int(await session.scalar(query) or 0)


async def customer_tickets(session: AsyncSession, customer_id: int, *, limit: int) -> Sequence[Ticket]:
    # Merged tickets live on in the ticket they were merged into; show that one only.
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.merged_into_id.is_(None))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def public_messages(session: AsyncSession, ticket_id: int) -> Sequence[Message]:
    query = (
        select(Message)
        .where(Message.ticket_id == ticket_id, Message.is_internal.is_(False))
        .order_by(Message.created_at, Message.id)
    )
    return (await session.scalars(query)).all()


async def get_ticket(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def active_channels(session: AsyncSession, types: Sequence[str]) -> Sequence[Channel]:
    query = (
        select(Channel).where(Channel.type.in_(list(types)), Channel.is_active.is_(True)).order_by(Channel.id)
    )
    return (await session.scalars(query)).all()
