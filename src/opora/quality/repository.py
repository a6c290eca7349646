"""All SQL of quality review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.quality.models import Review, ReviewStatus, Scorecard
from opora.surveys.models import CsatSurvey
from opora.tickets.models import Ticket


@dataclass
class SampleFilter:
    scorecard_id: int
    count: int
    agent_id: int | None = None
    team_id: int | None = None
    channel_type: str | None = None
    topic: str | None = None
    solved_from: datetime | None = None
    solved_until: datetime | None = None
    max_rating: int | None = None  # only conversations the customer rated this low or lower


async def list_scorecards(session: AsyncSession, *, active_only: bool = False) -> Sequence[Scorecard]:
    query = select(Scorecard).order_by(Scorecard.name, Scorecard.id)
    if active_only:
        query = query.where(Scorecard.is_active.is_(True))
    return (await session.scalars(query)).all()


async def get_scorecard(session: AsyncSession, scorecard_id: int) -> Scorecard | None:
    return await session.get(Scorecard, scorecard_id)


async def review_count(session: AsyncSession, scorecard_id: int) -> int:
    query = select(func.count(Review.id)).where(Review.scorecard_id == scorecard_id)
    return int(await session.scalar(query) or 0)


async def sample_candidates(session: AsyncSession, f: SampleFilter) -> list[tuple[int, int]]:
    """(ticket id, assignee id) of random solved conversations not yet reviewed on the scorecard."""
    query = (
        select(Ticket.id, Ticket.assignee_id)
        .where(
            Ticket.status.in_(["solved", "closed"]),
            Ticket.assignee_id.is_not(None),
            Ticket.merged_into_id.is_(None),
            ~exists().where(Review.ticket_id == Ticket.id, Review.scorecard_id == f.scorecard_id),
        )
        .order_by(func.random())
        .limit(f.count)
    )
    if f.agent_id is not None:
        query = query.where(Ticket.assignee_id == f.agent_id)
    if f.team_id is not None:
        query = query.where(Ticket.team_id == f.team_id)
    if f.channel_type:
        query = query.where(Ticket.channel_type == f.channel_type)
    if f.topic:
        query = query.where(Ticket.topic == f.topic)
    # A closed ticket keeps its solved_at; one closed without a solve counts from its close.
    solved = func.coalesce(Ticket.solved_at, Ticket.closed_at)
    if f.solved_from is not None:
        query = query.where(solved >= f.solved_from)
    if f.solved_until is not None:
        query = query.where(solved < f.solved_until)
    if f.max_rating is not None:
        query = query.where(
            exists().where(CsatSurvey.ticket_id == Ticket.id, CsatSurvey.rating <= f.max_rating)
        )
    return [(row.id, int(row.assignee_id)) for row in await session.execute(query)]


async def list_reviews(
    session: AsyncSession,
    *,
    agent_id: int | None,
    status: str | None,
    ticket_id: int | None = None,
    scorecard_id: int | None = None,
    limit: int,
    before_id: int | None,
) -> Sequence[Review]:
    query = select(Review).order_by(Review.id.desc()).limit(limit)
    if agent_id is not None:
        query = query.where(Review.agent_id == agent_id)
    if status is not None:
        query = query.where(Review.status == status)
    if ticket_id is not None:
        query = query.where(Review.ticket_id == ticket_id)
    if scorecard_id is not None:
        query = query.where(Review.scorecard_id == scorecard_id)
    if before_id is not None:
        query = query.where(Review.id < before_id)
    return (await session.scalars(query)).all()


async def get_review(session: AsyncSession, review_id: int, *, for_update: bool = False) -> Review | None:
    query = select(Review).where(Review.id == review_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def completed_totals(
    session: AsyncSession, agent_id: int, *, since: datetime | None
) -> list[tuple[datetime, float]]:
    query = (
        select(Review.completed_at, Review.total)
        .where(Review.agent_id == agent_id, Review.status == ReviewStatus.DONE)
        .order_by(Review.completed_at)
    )
    if since is not None:
        query = query.where(Review.completed_at >= since)
    return [
        (row.completed_at, float(row.total))
        for row in await session.execute(query)
        if row.completed_at is not None and row.total is not None
    ]
