"""All SQL of CSAT surveys."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Role
from opora.customers.models import Customer
from opora.surveys.models import CsatSettings, CsatSurvey, SurveyStatus
from opora.tickets.models import Message, Ticket


@dataclass(frozen=True, slots=True)
class CsatRow:
    """One answered survey, as analytics reads it (see :func:`csat_rows`)."""

    survey_id: int
    ticket_id: int
    agent_id: int | None
    team_id: int | None
    channel_type: str
    language: str
    rating: int
    comment: str | None
    sent_at: datetime | None
    answered_at: datetime


async def get_settings(session: AsyncSession, *, for_update: bool = False) -> CsatSettings | None:
    query = select(CsatSettings).where(CsatSettings.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def tickets(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(sorted(ticket_ids))))
    return {t.id: t for t in rows}


async def customer_languages(session: AsyncSession, customer_ids: Collection[int]) -> dict[int, str | None]:
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.language).where(Customer.id.in_(sorted(customer_ids)))
    )
    return {row.id: row.language for row in rows}


async def surveys_of(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, CsatSurvey]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(CsatSurvey).where(CsatSurvey.ticket_id.in_(sorted(ticket_ids))))
    return {s.ticket_id: s for s in rows}


async def get(session: AsyncSession, survey_id: int, *, for_update: bool = False) -> CsatSurvey | None:
    query = select(CsatSurvey).where(CsatSurvey.id == survey_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def customer_name(session: AsyncSession, customer_id: int) -> str:
    return str(await session.scalar(select(Customer.name).where(Customer.id == customer_id)) or "")


async def supervisors(session: AsyncSession) -> list[int]:
    """Who follows up a bad rating: the active supervisors, or the admins when there are none."""
    rows = await session.execute(
        select(Agent.id, Agent.role).where(
            Agent.is_active.is_(True), Agent.role.in_([Role.SUPERVISOR, Role.ADMIN])
        )
    )
    found = [(row.id, row.role) for row in rows]
    chosen = [agent_id for agent_id, role in found if role == Role.SUPERVISOR]
    return sorted(chosen or [agent_id for agent_id, _role in found])


async def list_answered(
    session: AsyncSession,
    *,
    max_rating: int | None,
    follow_up: str | None,
    agent_id: int | None,
    limit: int,
    before_id: int | None,
) -> Sequence[CsatSurvey]:
    query = (
        select(CsatSurvey)
        .where(CsatSurvey.status == SurveyStatus.ANSWERED)
        .order_by(CsatSurvey.id.desc())
        .limit(limit)
    )
    if max_rating is not None:
        query = query.where(CsatSurvey.rating <= max_rating)
    if follow_up is not None:
        query = query.where(CsatSurvey.follow_up == follow_up)
    if agent_id is not None:
        query = query.where(CsatSurvey.agent_id == agent_id)
    if before_id is not None:
        query = query.where(CsatSurvey.id < before_id)
    return (await session.scalars(query)).all()


async def csat_rows(session: AsyncSession, *, start: datetime, end: datetime) -> list[CsatRow]:
    """Surveys answered in ``[start, end)``, oldest first: the CSAT metric's raw data.

    CSAT of a group = share of ratings 4 and 5 among its rows (the usual definition); the
    average rating is ``sum(rating) / len(rows)``. Rows carry the agent and team the ticket had
    when it was solved.
    """
    rows = await session.scalars(
        select(CsatSurvey)
        .where(
            CsatSurvey.status == SurveyStatus.ANSWERED,
            CsatSurvey.answered_at >= start,
            CsatSurvey.answered_at < end,
        )
        .order_by(CsatSurvey.answered_at, CsatSurvey.id)
    )
    return [
        CsatRow(
            survey_id=s.id,
            ticket_id=s.ticket_id,
            agent_id=s.agent_id,
            team_id=s.team_id,
            channel_type=s.channel_type,
            language=s.language,
            rating=int(s.rating or 0),
            comment=s.comment,
            sent_at=s.sent_at,
            answered_at=s.answered_at or start,
        )
        for s in rows
    ]


async def conversations(
    session: AsyncSession, ticket_ids: Collection[int], *, per_ticket: int
) -> dict[int, list[Message]]:
    """The last public messages of each ticket, oldest first: shown beside a bad rating."""
    result: dict[int, list[Message]] = {tid: [] for tid in ticket_ids}
    if not ticket_ids:
        return result
    rows = await session.scalars(
        select(Message)
        .where(Message.ticket_id.in_(sorted(ticket_ids)), Message.is_internal.is_(False))
        .order_by(Message.ticket_id, Message.id.desc())
    )
    for message in rows:
        kept = result[message.ticket_id]
        if len(kept) < per_ticket:
            kept.append(message)
    return {tid: list(reversed(kept)) for tid, kept in result.items()}
