"""/api/v1/analytics: reports, the tickets behind a number, exports and the live dashboard.

Supervisors and admins only: reports show every team's work.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from opora.analytics import exports, service
from opora.analytics.definitions import Dimension, Filters, Metric
from opora.analytics.schemas import DashboardOut, DrillOut, ReportOut
from opora.analytics.service import ReportQuery
from opora.auth.deps import RuntimeDep, Supervisor, Uow
from opora.kit.time import utcnow

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

DEFAULT_SPAN = timedelta(days=7)


def report_query(
    metric: Metric,
    start: datetime | None = None,
    end: datetime | None = None,
    dimension: Dimension = Dimension.TOTAL,
    team_id: Annotated[list[int], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    agent_id: Annotated[list[int], Query()] = [],  # noqa: B006
    channel: Annotated[list[str], Query(max_length=30)] = [],  # noqa: B006
    topic: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
    priority: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006
    segment: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
) -> ReportQuery:
    """The span defaults to the last seven days; every filter may be repeated (any of them)."""
    end = end or utcnow()
    start = start or end - DEFAULT_SPAN
    filters = Filters(
        tuple(team_id), tuple(agent_id), tuple(channel), tuple(topic), tuple(priority), tuple(segment)
    )
    return ReportQuery(metric, start, end, dimension, filters)


QueryDep = Annotated[ReportQuery, Depends(report_query)]


@router.get("/reports/{metric}")
async def get_report(query: QueryDep, uow: Uow, runtime: RuntimeDep, _s: Supervisor) -> ReportOut:
    tz = runtime.settings.default_timezone
    result = await service.report(uow, query, timezone=tz, now=utcnow())
    return await service.report_out(uow, result, timezone=tz)


@router.get("/reports/{metric}/tickets")
async def get_report_tickets(
    query: QueryDep,
    uow: Uow,
    runtime: RuntimeDep,
    _s: Supervisor,
    key: str | None = Query(default=None, max_length=100),
    ok: bool | None = None,
) -> DrillOut:
    """The tickets behind a number: ``key`` picks a slice of ``dimension``, ``ok`` the tickets
    that met (true) or missed (false) the metric's condition."""
    ids = await service.drill_down(
        uow, query, key=key, ok=ok, timezone=runtime.settings.default_timezone, now=utcnow()
    )
    return DrillOut(metric=query.metric, ticket_ids=ids, truncated=len(ids) >= service.DRILL_LIMIT)


@router.get("/reports/{metric}/export")
async def export_report(
    query: QueryDep,
    uow: Uow,
    runtime: RuntimeDep,
    _s: Supervisor,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    tz = runtime.settings.default_timezone
    out = await service.report_out(
        uow, await service.report(uow, query, timezone=tz, now=utcnow()), timezone=tz
    )
    name = f"{query.metric.value}-{query.dimension.value}-{query.start:%Y%m%d}-{query.end:%Y%m%d}.{format}"
    body, media = (
        (exports.to_csv(out), exports.CSV_TYPE)
        if format == "csv"
        else (exports.to_xlsx(out), exports.XLSX_TYPE)
    )
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/dashboard")
async def get_dashboard(uow: Uow, runtime: RuntimeDep, _s: Supervisor) -> DashboardOut:
    board = await service.dashboard(uow, timezone=runtime.settings.default_timezone, now=utcnow())
    return await service.dashboard_out(uow, board)
