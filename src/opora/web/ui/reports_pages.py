"""The reports area: the live supervisor dashboard, a report with its chart, and drill-down.

Every figure on these pages is a link to the tickets behind it (``/reports/tickets`` with the
report's own parameters plus the slice), computed by the same query as the figure itself.
Supervisors and admins only, like the API they mirror.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from opora.analytics import service
from opora.analytics.definitions import KINDS, PERIODS, Dimension, Filters, Kind, Metric
from opora.analytics.service import ReportQuery
from opora.auth.deps import RuntimeDep, Uow
from opora.kit.errors import Forbidden
from opora.kit.time import utcnow
from opora.tickets.models import Priority
from opora.web.i18n import gettext as _
from opora.web.templating import is_htmx, render
from opora.web.ui.deps import Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

MAX_DAYS = 366


async def supervisor_viewer(page_viewer: ViewerDep) -> Viewer:
    if not page_viewer.principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins may see reports.")
    return page_viewer


SupervisorViewer = Annotated[Viewer, Depends(supervisor_viewer)]


def metric_labels() -> dict[Metric, str]:
    return {
        Metric.CREATED: _("Tickets created"),
        Metric.SOLVED: _("Tickets solved"),
        Metric.FIRST_RESPONSE: _("First response time"),
        Metric.NEXT_RESPONSE: _("Next response time"),
        Metric.RESOLUTION: _("Full resolution time"),
        Metric.FCR: _("First-contact resolution"),
        Metric.REOPEN: _("Reopen rate"),
        Metric.SLA_FIRST_RESPONSE: _("SLA: first response met"),
        Metric.SLA_NEXT_RESPONSE: _("SLA: next response met"),
        Metric.SLA_RESOLUTION: _("SLA: resolution met"),
        Metric.ESCALATION: _("Escalation rate"),
        Metric.BOT_RESOLUTION: _("Bot resolution rate"),
        Metric.BOT_HANDOFF: _("Bot hand-off rate"),
        Metric.BACKLOG: _("Backlog (open now) and its age"),
        Metric.CSAT: _("Customer satisfaction (CSAT)"),
    }


def dimension_labels() -> dict[Dimension, str]:
    return {
        Dimension.TOTAL: _("Total"),
        Dimension.DAY: _("Day"),
        Dimension.WEEK: _("Week"),
        Dimension.MONTH: _("Month"),
        Dimension.HOUR: _("Hour"),
        Dimension.AGENT: _("Agent"),
        Dimension.TEAM: _("Team"),
        Dimension.CHANNEL: _("Channel"),
        Dimension.TOPIC: _("Topic"),
        Dimension.PRIORITY: _("Priority"),
        Dimension.SEGMENT: _("Customer segment"),
    }


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _ints(values: list[str]) -> tuple[int, ...]:
    return tuple(int(v) for v in values if v.strip().isdigit() and len(v) < 19)


def _texts(values: list[str], limit: int) -> tuple[str, ...]:
    return tuple(v.strip()[:limit] for v in values if v.strip())


def parse_query(request: Request, zone: ZoneInfo) -> tuple[ReportQuery, dict[str, Any]]:
    """The report a page asks for, from its query string: local days ``from``..``to`` inclusive."""
    params = request.query_params
    try:
        metric = Metric(params.get("metric", Metric.CREATED))
    except ValueError:
        metric = Metric.CREATED
    try:
        dimension = Dimension(params.get("dimension", Dimension.DAY))
    except ValueError:
        dimension = Dimension.DAY
    today = utcnow().astimezone(zone).date()
    last = _day(params.get("to")) or today
    first = _day(params.get("from")) or last - timedelta(days=6)
    if first > last or (last - first).days >= MAX_DAYS:
        first = last - timedelta(days=6)
    if dimension == Dimension.HOUR and (last - first).days > 30:
        dimension = Dimension.DAY
    filters = Filters(
        team_ids=_ints(params.getlist("team_id")),
        agent_ids=_ints(params.getlist("agent_id")),
        channel_types=_texts(params.getlist("channel"), 30),
        topics=_texts(params.getlist("topic"), 100),
        priorities=_texts(params.getlist("priority"), 10),
        segments=_texts(params.getlist("segment"), 40),
    )
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    form = {"metric": metric, "dimension": dimension, "from": first.isoformat(), "to": last.isoformat()}
    return ReportQuery(metric, start, end, dimension, filters), form


def shared_params(query: ReportQuery, form: dict[str, Any]) -> list[tuple[str, str]]:
    f = query.filters
    pairs: list[tuple[str, str]] = [
        ("metric", query.metric.value),
        ("dimension", query.dimension.value),
        ("from", form["from"]),
        ("to", form["to"]),
    ]
    pairs += [("team_id", str(v)) for v in f.team_ids] + [("agent_id", str(v)) for v in f.agent_ids]
    pairs += [("channel", v) for v in f.channel_types] + [("topic", v) for v in f.topics]
    pairs += [("priority", v) for v in f.priorities] + [("segment", v) for v in f.segments]
    return pairs


def api_params(query: ReportQuery) -> str:
    pairs = [
        ("start", query.start.isoformat()),
        ("end", query.end.isoformat()),
        ("dimension", query.dimension.value),
    ]
    f = query.filters
    pairs += [("team_id", str(v)) for v in f.team_ids] + [("agent_id", str(v)) for v in f.agent_ids]
    pairs += [("channel", v) for v in f.channel_types] + [("topic", v) for v in f.topics]
    pairs += [("priority", v) for v in f.priorities] + [("segment", v) for v in f.segments]
    return urlencode(pairs)


def drill_link(base: list[tuple[str, str]], key: str | None, ok: bool | None = None) -> str:
    pairs = list(base)
    if key is not None:
        pairs.append(("key", key))
    elif any(k == "dimension" and v not in ("total",) for k, v in base):
        pairs.append(("key_none", "1"))
    if ok is not None:
        pairs.append(("ok", "1" if ok else "0"))
    return "/reports/tickets?" + urlencode(pairs)


def _change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


@router.get("/reports")
async def dashboard_page(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: SupervisorViewer
) -> HTMLResponse:
    tz = runtime.settings.default_timezone
    board = await service.dashboard(uow, timezone=tz, now=utcnow())
    out = await service.dashboard_out(uow, board)
    today = board.now.astimezone(ZoneInfo(tz)).date().isoformat()
    context = {
        "viewer": viewer,
        "section": "reports",
        "board": out,
        "today": today,
        "metrics": metric_labels(),
        "change": _change(float(out.created_today), out.usual_today),
    }
    if is_htmx(request):
        return render(request, "ui/reports/dashboard.html", context, block="live")
    return render(request, "ui/reports/dashboard.html", context)


@router.get("/reports/view")
async def report_page(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: SupervisorViewer
) -> HTMLResponse:
    tz = runtime.settings.default_timezone
    query, form = parse_query(request, ZoneInfo(tz))
    result = await service.report(uow, query, timezone=tz, now=utcnow())
    out = await service.report_out(uow, result, timezone=tz)
    agents, teams = await service.names(uow)
    base = shared_params(query, form)
    kind = KINDS[query.metric]
    headline = _headline(kind, out.total)
    previous = _headline(kind, out.previous) if out.previous else None
    chart = {
        "type": "line" if query.dimension in PERIODS else "bar",
        "labels": [r.label for r in out.rows],
        "values": [_headline(kind, r) for r in out.rows],
        "kind": kind.value,
        "series": metric_labels()[query.metric],
    }
    return render(
        request,
        "ui/reports/report.html",
        {
            "viewer": viewer,
            "section": "reports",
            "report": out,
            "kind": kind.value,
            "form": form,
            "filters": query.filters,
            "metrics": metric_labels(),
            "dimensions": dimension_labels(),
            "agents": agents,
            "teams": teams,
            "priorities": [p.value for p in Priority],
            "headline": headline,
            "previous": previous,
            "change": _change(headline, previous),
            "chart": chart,
            "drill": lambda key, ok=None: drill_link(base, key, ok),
            "total_link": drill_link(
                [p for p in base if p[0] != "dimension"] + [("dimension", "total")], None
            ),
            "total_ok_link": drill_link(
                [p for p in base if p[0] != "dimension"] + [("dimension", "total")], None, True
            ),
            "export_csv": f"/api/v1/analytics/reports/{query.metric.value}/export?format=csv&{api_params(query)}",
            "export_xlsx": f"/api/v1/analytics/reports/{query.metric.value}/export?format=xlsx&{api_params(query)}",
        },
    )


def _headline(kind: Kind, stats: Any) -> float | None:
    """The one number a chart plots per slice: count, median time, rate or average rating."""
    if kind == Kind.COUNT:
        return float(stats.count)
    if kind == Kind.DURATION:
        return float(stats.median) if stats.median is not None else None
    if kind == Kind.RATE:
        return float(stats.rate) if stats.rate is not None else None
    return float(stats.average) if stats.average is not None else None


@router.get("/reports/tickets")
async def tickets_page(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: SupervisorViewer
) -> HTMLResponse:
    tz = runtime.settings.default_timezone
    params = request.query_params
    now = utcnow()
    if params.get("live") == "sla_at_risk":
        ids = await service.at_risk_tickets(uow, now=now)
        title = _("SLA breached or due within an hour")
        back = "/reports"
    else:
        query, form = parse_query(request, ZoneInfo(tz))
        key = params.get("key")
        if key is None and not params.get("key_none") and query.dimension != Dimension.TOTAL:
            query = ReportQuery(query.metric, query.start, query.end, Dimension.TOTAL, query.filters)
        ok = {"1": True, "0": False}.get(params.get("ok", ""))
        ids = await service.drill_down(uow, query, key=key, ok=ok, timezone=tz, now=now)
        title = metric_labels()[query.metric]
        back = "/reports/view?" + urlencode(shared_params(query, form))
    tickets = await service.tickets(uow, ids)
    agents, teams = await service.names(uow)
    return render(
        request,
        "ui/reports/tickets.html",
        {
            "viewer": viewer,
            "section": "reports",
            "title": title,
            "tickets": tickets,
            "truncated": len(ids) >= service.DRILL_LIMIT,
            "agents": agents,
            "teams": teams,
            "back": back,
        },
    )
