"""Quality review use cases: scorecards (admins), sampling and reviewing (supervisors), and the
reviewed agent's own view of its reviews and its score over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opora.agents import repository as agents_repo
from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from opora.kit.time import utcnow
from opora.quality import repository, scoring
from opora.quality.models import Review, ReviewStatus, Scorecard
from opora.quality.repository import SampleFilter
from opora.quality.schemas import ReviewComplete, SampleIn, ScorecardIn, ScorecardUpdate
from opora.tickets import repository as tickets_repo
from opora.tickets.lifecycle import Status


def _admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only admins may change scorecards.")


def _reviewer(principal: Principal) -> None:
    if not principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins review conversations.")


async def list_scorecards(uow: UnitOfWork, *, active_only: bool = False) -> Sequence[Scorecard]:
    return await repository.list_scorecards(uow.session, active_only=active_only)


async def get_scorecard(uow: UnitOfWork, scorecard_id: int) -> Scorecard:
    card = await repository.get_scorecard(uow.session, scorecard_id)
    if card is None:
        raise NotFound(f"Scorecard {scorecard_id} does not exist.")
    return card


async def create_scorecard(uow: UnitOfWork, principal: Principal, data: ScorecardIn) -> Scorecard:
    _admin(principal)
    now = utcnow()
    card = Scorecard(
        name=data.name,
        description=data.description,
        is_active=data.is_active,
        criteria=scoring.check_criteria([c.model_dump() for c in data.criteria]),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(card)
    await uow.session.flush()
    return card


async def update_scorecard(
    uow: UnitOfWork, principal: Principal, scorecard_id: int, data: ScorecardUpdate
) -> Scorecard:
    _admin(principal)
    card = await get_scorecard(uow, scorecard_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "is_active", "criteria"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "criteria" in changes:
        # Reviews keep their own copy; pending ones follow the new criteria when completed.
        changes["criteria"] = scoring.check_criteria(changes["criteria"])
    for key, value in changes.items():
        if value is not None:
            setattr(card, key, value)
    card.updated_at = utcnow()
    await uow.session.flush()
    return card


async def delete_scorecard(uow: UnitOfWork, principal: Principal, scorecard_id: int) -> None:
    _admin(principal)
    card = await get_scorecard(uow, scorecard_id)
    if await repository.review_count(uow.session, scorecard_id):
        raise Conflict("This scorecard has reviews; deactivate it instead.", field="scorecard_id")
    await uow.session.delete(card)
    await uow.session.flush()


async def _active_card(uow: UnitOfWork, scorecard_id: int) -> Scorecard:
    card = await repository.get_scorecard(uow.session, scorecard_id)
    if card is None or not card.is_active:
        raise InvalidInput(f"Scorecard {scorecard_id} does not exist or is inactive.", field="scorecard_id")
    return card


async def sample(uow: UnitOfWork, principal: Principal, data: SampleIn) -> list[Review]:
    """Pending reviews for up to ``count`` random solved conversations matching the filters."""
    _reviewer(principal)
    card = await _active_card(uow, data.scorecard_id)
    f = SampleFilter(**data.model_dump())
    picked = await repository.sample_candidates(uow.session, f)
    now = utcnow()
    rows = [
        Review(
            scorecard_id=card.id,
            ticket_id=ticket_id,
            agent_id=agent_id,
            status=ReviewStatus.PENDING,
            criteria=list(card.criteria),
            scores={},
            comment="",
            created_at=now,
        )
        for ticket_id, agent_id in picked
    ]
    uow.session.add_all(rows)
    await uow.session.flush()
    return rows


async def create_review(
    uow: UnitOfWork, principal: Principal, *, scorecard_id: int, ticket_id: int
) -> Review:
    """Pick one conversation by hand."""
    _reviewer(principal)
    card = await _active_card(uow, scorecard_id)
    ticket = await tickets_repo.get_ticket(uow.session, ticket_id)
    if ticket is None:
        raise InvalidInput(f"Ticket {ticket_id} does not exist.", field="ticket_id")
    if ticket.status not in (Status.SOLVED, Status.CLOSED) or ticket.assignee_id is None:
        raise InvalidInput("Only solved conversations with an assignee are reviewed.", field="ticket_id")
    review = Review(
        scorecard_id=card.id,
        ticket_id=ticket.id,
        agent_id=ticket.assignee_id,
        status=ReviewStatus.PENDING,
        criteria=list(card.criteria),
        scores={},
        comment="",
        created_at=utcnow(),
    )
    taken = await repository.list_reviews(
        uow.session,
        agent_id=None,
        status=None,
        ticket_id=ticket.id,
        scorecard_id=card.id,
        limit=1,
        before_id=None,
    )
    if taken:
        raise Conflict("This conversation is already reviewed on this scorecard.", field="ticket_id")
    uow.session.add(review)
    await uow.session.flush()
    return review


async def get_review(uow: UnitOfWork, principal: Principal, review_id: int, *, write: bool = False) -> Review:
    review = await repository.get_review(uow.session, review_id, for_update=write and not uow.is_sqlite)
    if review is None:
        raise NotFound(f"Review {review_id} does not exist.")
    if not principal.sees_all_tickets and (
        review.agent_id != principal.agent_id or review.status != ReviewStatus.DONE
    ):
        # An agent sees only its own finished reviews; others' look like they do not exist.
        raise NotFound(f"Review {review_id} does not exist.")
    return review


async def complete_review(
    uow: UnitOfWork, principal: Principal, review_id: int, data: ReviewComplete
) -> Review:
    _reviewer(principal)
    review = await get_review(uow, principal, review_id, write=True)
    if review.agent_id == principal.agent_id:
        raise Forbidden("Nobody reviews their own conversations.")
    card = await repository.get_scorecard(uow.session, review.scorecard_id)
    # A pending review is scored on the scorecard as it is now; a finished one keeps its criteria.
    if review.status == ReviewStatus.PENDING and card is not None:
        review.criteria = list(card.criteria)
    scores = scoring.check_scores(review.criteria, data.scores)
    review.scores = scores
    review.comment = data.comment.strip()
    review.total = scoring.weighted_total(review.criteria, scores)
    review.reviewer_id = principal.agent_id
    review.status = ReviewStatus.DONE
    review.completed_at = review.completed_at or utcnow()
    await uow.session.flush()
    return review


async def list_reviews(
    uow: UnitOfWork,
    principal: Principal,
    *,
    agent_id: int | None = None,
    status: str | None = None,
    ticket_id: int | None = None,
    limit: int,
    before_id: int | None = None,
) -> Sequence[Review]:
    if not principal.sees_all_tickets:
        if agent_id is not None and agent_id != principal.agent_id:
            raise Forbidden("Agents see only their own reviews.")
        agent_id, status = principal.agent_id, ReviewStatus.DONE
    return await repository.list_reviews(
        uow.session, agent_id=agent_id, status=status, ticket_id=ticket_id, limit=limit, before_id=before_id
    )


async def agent_scores(
    uow: UnitOfWork, principal: Principal, agent_id: int, *, period: str, since: datetime | None
) -> list[dict[str, Any]]:
    if not principal.sees_all_tickets and agent_id != principal.agent_id:
        raise Forbidden("Agents see only their own scores.")
    if await agents_repo.get_agent(uow.session, agent_id) is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    rows = await repository.completed_totals(uow.session, agent_id, since=since)
    return scoring.trend(rows, period)
