"""All SQL about tickets, messages, tags and ticket events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opora.db import fold
from opora.events.models import TicketEvent
from opora.tickets.models import Attachment, Message, Ticket, TicketTag


@dataclass
class TicketFilter:
    statuses: list[str] = field(default_factory=list)
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    team_ids: frozenset[int] | None = None  # "my teams": any of these
    channel_type: str | None = None
    tag: str | None = None
    customer_id: int | None = None
    text: str | None = None
    updated_since: datetime | None = None
    # Visibility: None = everything; otherwise these teams plus tickets assigned to visible_agent_id.
    visible_team_ids: frozenset[int] | None = None
    visible_agent_id: int | None = None
    include_merged: bool = False
    # Conditions other modules contribute (e.g. "SLA at risk"); SQLAlchemy boolean clauses.
    extra_conditions: list[Any] = field(default_factory=list)


def _filtered(f: TicketFilter) -> Select[Ticket]:
    query = select(Ticket)
    if f.visible_team_ids is not None:
        scope = [Ticket.assignee_id == f.visible_agent_id]
        if f.visible_team_ids:
            scope.append(Ticket.team_id.in_(sorted(f.visible_team_ids)))
        query = query.where(or_(*scope))
    if not f.include_merged:
        query = query.where(Ticket.merged_into_id.is_(None))
    if f.statuses:
        query = query.where(Ticket.status.in_(f.statuses))
    for condition in f.extra_conditions:
        query = query.where(condition)
    if f.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    elif f.assignee_id is not None:
        query = query.where(Ticket.assignee_id == f.assignee_id)
    if f.team_id is not None:
        query = query.where(Ticket.team_id == f.team_id)
    if f.team_ids is not None:
        query = query.where(Ticket.team_id.in_(sorted(f.team_ids)))
    if f.channel_type:
        query = query.where(Ticket.channel_type == f.channel_type)
    if f.customer_id is not None:
        query = query.where(Ticket.customer_id == f.customer_id)
    if f.tag:
        query = query.where(exists().where(TicketTag.ticket_id == Ticket.id, TicketTag.tag == f.tag))
    if f.updated_since is not None:
        query = query.where(Ticket.updated_at >= f.updated_since)
    if f.text:
        # Substring match for now; the knowledge-base search work brings stemmed full-text search.
        pattern = f"%{_escape_like(f.text.casefold())}%"
        query = query.where(
            or_(
                fold(Ticket.subject).like(pattern, escape="\\"),
                exists().where(Message.ticket_id == Ticket.id, fold(Message.text).like(pattern, escape="\\")),
            )
        )
    return query


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_tickets(
    session: AsyncSession,
    f: TicketFilter,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    oldest_first: bool = False,
) -> Sequence[Ticket]:
    """Newest activity first (or oldest first), keyset-paginated on (updated_at, id)."""
    if oldest_first:
        query = _filtered(f).order_by(Ticket.updated_at.asc(), Ticket.id.asc()).limit(limit)
    else:
        query = _filtered(f).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)
    if after is not None:
        updated_at, ticket_id = after
        if oldest_first:
            query = query.where(
                or_(
                    Ticket.updated_at > updated_at,
                    (Ticket.updated_at == updated_at) & (Ticket.id > ticket_id),
                )
            )
        else:
            query = query.where(
                or_(
                    Ticket.updated_at < updated_at,
                    (Ticket.updated_at == updated_at) & (Ticket.id < ticket_id),
                )
            )
    return (await session.scalars(query)).all()


async def list_tickets_by(
    session: AsyncSession, f: TicketFilter, *, order_by: Sequence[Any], joins: Sequence[Any] = (), limit: int
) -> Sequence[Ticket]:
    """One page in an order given by another module (e.g. nearest SLA due time), without keyset."""
    query = _filtered(f)
    for target, on in joins:
        query = query.outerjoin(target, on)
    return (await session.scalars(query.order_by(*order_by).limit(limit))).all()


async def count_tickets(session: AsyncSession, f: TicketFilter) -> int:
    query = _filtered(f).with_only_columns(func.count(Ticket.id)).order_by(None)
    return int(await session.scalar(query) or 0)


async def latest_public_messages(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, Message]:
    """The last message the customer can see, per ticket: the inbox shows its first line."""
    if not ticket_ids:
        return {}
    last = (
        select(func.max(Message.id))
        .where(Message.ticket_id.in_(ticket_ids), Message.is_internal.is_(False))
        .group_by(Message.ticket_id)
    )
    rows = await session.scalars(select(Message).where(Message.id.in_(last)))
    return {m.ticket_id: m for m in rows}


async def get_ticket(session: AsyncSession, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
    if for_update:
        query = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        return (await session.scalars(query)).first()
    return await session.get(Ticket, ticket_id)


async def tags_of(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {ticket_id: [] for ticket_id in ticket_ids}
    if not ticket_ids:
        return result
    rows = await session.execute(
        select(TicketTag.ticket_id, TicketTag.tag)
        .where(TicketTag.ticket_id.in_(ticket_ids))
        .order_by(TicketTag.tag)
    )
    for ticket_id, tag in rows:
        result[ticket_id].append(tag)
    return result


async def set_tags(session: AsyncSession, ticket_id: int, tags: Sequence[str]) -> None:
    await session.execute(delete(TicketTag).where(TicketTag.ticket_id == ticket_id))
    session.add_all([TicketTag(ticket_id=ticket_id, tag=tag) for tag in sorted(set(tags))])
    await session.flush()


async def list_messages(
    session: AsyncSession, ticket_id: int, *, include_internal: bool, limit: int, after_id: int | None
) -> Sequence[Message]:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id).limit(limit)
    if not include_internal:
        query = query.where(Message.is_internal.is_(False))
    if after_id is not None:
        query = query.where(Message.id > after_id)
    return (await session.scalars(query)).all()


async def attachments_of(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    result: dict[int, list[Attachment]] = {message_id: [] for message_id in message_ids}
    if not message_ids:
        return result
    rows = await session.scalars(
        select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
    )
    for attachment in rows:
        if attachment.message_id is not None:
            result[attachment.message_id].append(attachment)
    return result


async def move_messages(session: AsyncSession, *, from_ticket_id: int, to_ticket_id: int) -> int:
    result = await session.execute(
        update(Message).where(Message.ticket_id == from_ticket_id).values(ticket_id=to_ticket_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def list_events(
    session: AsyncSession, ticket_id: int, *, limit: int, after_id: int | None
) -> Sequence[TicketEvent]:
    query = (
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id).limit(limit)
    )
    if after_id is not None:
        query = query.where(TicketEvent.id > after_id)
    return (await session.scalars(query)).all()
