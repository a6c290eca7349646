"""/api/v1/quality: scorecards, sampling, reviews, and each agent's scores over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from opora.auth.deps import Admin, CurrentPrincipal, Supervisor, Uow
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, encode_cursor
from opora.kit.schema import Page
from opora.quality import service
from opora.quality.schemas import (
    AgentScores,
    ReviewComplete,
    ReviewCreate,
    ReviewOut,
    SampleIn,
    ScorecardIn,
    ScorecardOut,
    ScorecardUpdate,
    TrendPoint,
)

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])


@router.get("/scorecards")
async def list_scorecards(uow: Uow, _principal: CurrentPrincipal) -> list[ScorecardOut]:
    return [ScorecardOut.model_validate(c) for c in await service.list_scorecards(uow)]


@router.post("/scorecards", status_code=201)
async def create_scorecard(data: ScorecardIn, uow: Uow, principal: Admin) -> ScorecardOut:
    return ScorecardOut.model_validate(await service.create_scorecard(uow, principal, data))


@router.get("/scorecards/{scorecard_id}")
async def get_scorecard(scorecard_id: int, uow: Uow, _principal: CurrentPrincipal) -> ScorecardOut:
    return ScorecardOut.model_validate(await service.get_scorecard(uow, scorecard_id))


@router.patch("/scorecards/{scorecard_id}")
async def update_scorecard(
    scorecard_id: int, data: ScorecardUpdate, uow: Uow, principal: Admin
) -> ScorecardOut:
    return ScorecardOut.model_validate(await service.update_scorecard(uow, principal, scorecard_id, data))


@router.delete("/scorecards/{scorecard_id}", status_code=204)
async def delete_scorecard(scorecard_id: int, uow: Uow, principal: Admin) -> Response:
    await service.delete_scorecard(uow, principal, scorecard_id)
    return Response(status_code=204)


@router.post("/samples", status_code=201)
async def sample(data: SampleIn, uow: Uow, principal: Supervisor) -> list[ReviewOut]:
    """Pick random solved conversations for review; each becomes a pending review."""
    return [ReviewOut.model_validate(r) for r in await service.sample(uow, principal, data)]


@router.post("/reviews", status_code=201)
async def create_review(data: ReviewCreate, uow: Uow, principal: Supervisor) -> ReviewOut:
    review = await service.create_review(
        uow, principal, scorecard_id=data.scorecard_id, ticket_id=data.ticket_id
    )
    return ReviewOut.model_validate(review)


@router.get("/reviews")
async def list_reviews(
    uow: Uow,
    principal: CurrentPrincipal,
    agent_id: int | None = None,
    status: Literal["pending", "done"] | None = None,
    ticket_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[ReviewOut]:
    """Supervisors see every review; an agent sees its own finished ones only."""
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await service.list_reviews(
        uow,
        principal,
        agent_id=agent_id,
        status=status,
        ticket_id=ticket_id,
        limit=limit + 1,
        before_id=before,
    )
    items = [ReviewOut.model_validate(r) for r in found[:limit]]
    return Page(
        items=items, next_cursor=encode_cursor(items[-1].id) if len(found) > limit and items else None
    )


@router.get("/reviews/{review_id}")
async def get_review(review_id: int, uow: Uow, principal: CurrentPrincipal) -> ReviewOut:
    return ReviewOut.model_validate(await service.get_review(uow, principal, review_id))


@router.put("/reviews/{review_id}")
async def complete_review(review_id: int, data: ReviewComplete, uow: Uow, principal: Supervisor) -> ReviewOut:
    return ReviewOut.model_validate(await service.complete_review(uow, principal, review_id, data))


@router.get("/agents/{agent_id}/scores")
async def agent_scores(
    agent_id: int,
    uow: Uow,
    principal: CurrentPrincipal,
    period: Literal["week", "month"] = "week",
    since: datetime | None = None,
) -> AgentScores:
    points = await service.agent_scores(uow, principal, agent_id, period=period, since=since)
    return AgentScores(agent_id=agent_id, period=period, points=[TrendPoint(**p) for p in points])
