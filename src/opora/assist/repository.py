"""All SQL of agent assistance: the similar-tickets index and the style settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from opora.assist.models import AssistSettings, SolvedDoc, SolvedTerm
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, Direction, Message, Ticket

SOLVED = (Status.SOLVED.value, Status.CLOSED.value)
# Rows per INSERT: well under SQLite's 32,766 bound parameters.
_CHUNK = 1_000


def _customer_messages() -> Any:
    return (
        (Message.direction == Direction.IN)
        & Message.is_internal.is_(False)
        & (Message.author_type == AuthorType.CUSTOMER)
    )


async def latest_customer_messages(
    session: AsyncSession, ticket_id: int, *, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """(text, metadata) of the customer's latest public messages, newest first."""
    query = (
        select(Message.text, Message.metadata_)
        .where(Message.ticket_id == ticket_id, _customer_messages())
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [(row[0] or "", dict(row[1] or {})) for row in (await session.execute(query)).all()]


@dataclass(slots=True)
class Source:
    """What a solved ticket is indexed from."""

    ticket_id: int
    subject: str
    texts: list[str]
    reply_message_id: int | None = None


async def sources(session: AsyncSession, ticket_ids: Sequence[int], *, max_messages: int) -> list[Source]:
    """Subject, the customer's first messages and the last public agent reply of each ticket:
    three queries whatever the number of tickets."""
    if not ticket_ids:
        return []
    ids = sorted(set(ticket_ids))
    rows = (await session.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(ids)))).all()
    found = {int(row[0]): Source(int(row[0]), row[1] or "", []) for row in rows}
    # The first messages state the problem; later ones are thanks and confirmations.
    ranked = (
        select(
            Message.ticket_id,
            Message.text,
            func.row_number().over(partition_by=Message.ticket_id, order_by=Message.id).label("n"),
        )
        .where(Message.ticket_id.in_(ids), _customer_messages())
        .subquery()
    )
    texts = await session.execute(
        select(ranked.c.ticket_id, ranked.c.text)
        .where(ranked.c.n <= max_messages)
        .order_by(ranked.c.ticket_id, ranked.c.n)
    )
    for ticket_id, text in texts.all():
        found[int(ticket_id)].texts.append(text or "")
    replies = await session.execute(
        select(Message.ticket_id, func.max(Message.id))
        .where(
            Message.ticket_id.in_(ids),
            Message.direction == Direction.OUT,
            Message.author_type == AuthorType.AGENT,
            Message.is_internal.is_(False),
        )
        .group_by(Message.ticket_id)
    )
    for ticket_id, message_id in replies.all():
        found[int(ticket_id)].reply_message_id = int(message_id)
    return [found[i] for i in ids if i in found]


async def replace_docs(
    session: AsyncSession,
    ticket_ids: Sequence[int],
    docs: Sequence[tuple[int, int, list[str]]],
    now: datetime,
) -> None:
    """Drops the index entries of ``ticket_ids`` and writes ``docs`` (ticket, reply, stems)."""
    ids = sorted(set(ticket_ids))
    if ids:
        await session.execute(delete(SolvedTerm).where(SolvedTerm.ticket_id.in_(ids)))
        await session.execute(delete(SolvedDoc).where(SolvedDoc.ticket_id.in_(ids)))
    if not docs:
        return
    await session.execute(
        insert(SolvedDoc),
        [{"ticket_id": t, "reply_message_id": r, "terms": len(s), "indexed_at": now} for t, r, s in docs],
    )
    terms = [{"stem": stem, "ticket_id": t} for t, _, stems in docs for stem in stems]
    for start in range(0, len(terms), _CHUNK):
        await session.execute(insert(SolvedTerm), terms[start : start + _CHUNK])


async def postings(session: AsyncSession, stems: Sequence[str], *, window: int) -> list[tuple[str, int]]:
    """(stem, ticket id) for the newest ``window`` solved tickets having each stem, in one query."""
    if not stems:
        return []
    parts = []
    for term in stems:
        newest = (
            select(SolvedTerm.stem, SolvedTerm.ticket_id)
            .where(SolvedTerm.stem == term)
            .order_by(SolvedTerm.ticket_id.desc())
            .limit(window)
            .subquery()
        )
        parts.append(select(newest.c.stem, newest.c.ticket_id))
    rows = (await session.execute(union_all(*parts))).all()
    return [(str(row[0]), int(row[1])) for row in rows]


@dataclass(frozen=True, slots=True)
class SolvedRow:
    ticket_id: int
    subject: str
    status: str
    team_id: int | None
    assignee_id: int | None
    solved_at: datetime | None
    terms: int
    reply_message_id: int
    reply_text: str
    reply_agent_id: int | None


async def solved_rows(session: AsyncSession, ticket_ids: Sequence[int], *, exclude: int) -> list[SolvedRow]:
    """The candidates still solved or closed (a reopened ticket waits for its next solve), with
    the reply that solved them, in one query."""
    if not ticket_ids:
        return []
    wanted = sorted(set(ticket_ids))
    query = (
        select(
            SolvedDoc.ticket_id,
            Ticket.subject,
            Ticket.status,
            Ticket.team_id,
            Ticket.assignee_id,
            Ticket.solved_at,
            SolvedDoc.terms,
            Message.id,
            Message.text,
            Message.author_agent_id,
        )
        .join(Ticket, Ticket.id == SolvedDoc.ticket_id)
        .join(Message, Message.id == SolvedDoc.reply_message_id)
        .where(SolvedDoc.ticket_id.in_(wanted), SolvedDoc.ticket_id != exclude)
    )
    # Status and merging are checked here, not in SQL: given "status IN (...)", SQLite walks the
    # status index over every solved ticket of the desk instead of looking up these few by key.
    return [
        SolvedRow(
            ticket_id=int(r[0]),
            subject=r[1] or "",
            status=r[2],
            team_id=r[3],
            assignee_id=r[4],
            solved_at=r[5],
            terms=int(r[6]),
            reply_message_id=int(r[7]),
            reply_text=r[8] or "",
            reply_agent_id=r[9],
        )
        for r in (await session.execute(query.add_columns(Ticket.merged_into_id))).all()
        if r[2] in SOLVED and r[10] is None
    ]


async def solved_ticket_ids(session: AsyncSession, *, after_id: int, limit: int) -> list[int]:
    """Solved and closed tickets by id, for rebuilding the index a batch at a time."""
    query = (
        select(Ticket.id)
        .where(Ticket.id > after_id, Ticket.status.in_(SOLVED), Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id)
        .limit(limit)
    )
    return [int(i) for i in (await session.scalars(query)).all()]


async def get_settings(session: AsyncSession, *, for_update: bool = False) -> AssistSettings | None:
    query = select(AssistSettings).where(AssistSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()
