"""/api/v1/admin/jobs: the queue as admins see it; dead letters can be retried."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from opora.auth.deps import Admin, Uow
from opora.jobs import service
from opora.jobs.models import JobState
from opora.jobs.schemas import JobOut, QueueStatsOut
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1/admin/jobs", tags=["jobs"])


@router.get("")
async def list_jobs(
    uow: Uow,
    _admin: Admin,
    state: JobState | None = JobState.DEAD,
    task: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[JobOut]:
    page = await service.list_jobs(uow, state=state, task=task, limit=limit, cursor=cursor)
    return Page(items=[JobOut.model_validate(job) for job in page.items], next_cursor=page.next_cursor)


@router.get("/stats")
async def stats(uow: Uow, _admin: Admin) -> QueueStatsOut:
    result = await service.queue_stats(uow)
    return QueueStatsOut(counts=result.counts, lag_seconds=result.lag_seconds)


@router.get("/{job_id}")
async def get_job(job_id: int, uow: Uow, _admin: Admin) -> JobOut:
    return JobOut.model_validate(await service.get_job(uow, job_id))


@router.post("/{job_id}/retry")
async def retry_job(job_id: int, uow: Uow, _admin: Admin) -> JobOut:
    return JobOut.model_validate(await service.retry_dead(uow, job_id))
