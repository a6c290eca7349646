"""Incident pages: every agent reads them (the status text helps answer customers); supervisors
and admins open, link, post updates and resolve."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opora.auth.deps import Uow
from opora.incidents import repository, service
from opora.incidents.models import IncidentStatus
from opora.incidents.schemas import IncidentIn, IncidentUpdateIn
from opora.kit.errors import AppError, InvalidInput
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, recover, text
from opora.web.ui.deps import Viewer, ViewerDep
from opora.web.ui.quality_pages import SupervisorViewer

router = APIRouter(include_in_schema=False)


def states() -> dict[str, str]:
    return {
        IncidentStatus.INVESTIGATING: _("Investigating"),
        IncidentStatus.IDENTIFIED: _("Cause identified"),
        IncidentStatus.MONITORING: _("Monitoring the fix"),
        IncidentStatus.RESOLVED: _("Resolved"),
    }


def notices() -> dict[str, str]:
    return {
        "created": _("Created."),
        "saved": _("Saved."),
        "linked": _("Tickets linked."),
        "posted": _("The update is on its way to every linked customer."),
        "resolved": _("Resolved: the final message is on its way and the tickets will be solved."),
    }


def _when(value: str) -> datetime | None:
    """A ``datetime-local`` field, read as UTC (the form says so)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value + ("" if "+" in value or value.endswith("Z") else "+00:00"))
    except ValueError:
        return None


def _values(form: Any) -> dict[str, Any]:
    return {
        "title": text(form, "title"),
        "status": text(form, "status") or IncidentStatus.INVESTIGATING.value,
        "status_text": text(form, "status_text"),
        "rule_topic": text(form, "rule_topic") or None,
        "rule_from": _when(text(form, "rule_from")),
        "rule_until": _when(text(form, "rule_until")),
    }


@router.get("/incidents")
async def incidents_list(request: Request, uow: Uow, viewer: ViewerDep, done: str = "") -> Response:
    return await _list(request, uow, viewer, values=None, errors={}, done=done)


async def _list(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None,
    errors: Errors,
    done: str = "",
    status_code: int = 200,
) -> Response:
    rows = list(await repository.list_incidents(uow.session, active_only=False, limit=200))
    context = {
        "viewer": viewer,
        "section": "incidents",
        "incidents": rows,
        "counts": await repository.linked_counts(uow.session, [i.id for i in rows]),
        "states": states(),
        "notices": notices(),
        "done": done,
        "values": values
        or {"title": "", "status_text": "", "rule_topic": "", "rule_from": None, "rule_until": None},
        "errors": errors,
    }
    return render(request, "ui/incidents/list.html", context, status_code=status_code)


@router.post("/incidents")
async def incident_create(request: Request, uow: Uow, viewer: SupervisorViewer) -> Response:
    values = _values(await request.form())
    try:
        incident = await service.create(uow, viewer.principal, IncidentIn.model_validate(values))
    except (ValidationError, AppError) as exc:
        await recover(uow, viewer)
        errors = _errors(exc)
        return await _list(request, uow, viewer, values=values, errors=errors, status_code=_status(exc))
    return RedirectResponse(f"/incidents/{incident.id}?done=created", status_code=303)


def _errors(exc: Exception) -> Errors:
    if isinstance(exc, ValidationError):
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "title"
        return {field: _("Check this value.")}
    assert isinstance(exc, AppError)
    return {(exc.field or "title").split(".")[0]: exc.message}


def _status(exc: Exception) -> int:
    return exc.status_code if isinstance(exc, AppError) else 422


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, incident_id: int, uow: Uow, viewer: ViewerDep, done: str = ""
) -> Response:
    return await _detail(request, uow, viewer, incident_id, errors={}, done=done)


async def _detail(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    incident_id: int,
    *,
    errors: Errors,
    done: str = "",
    status_code: int = 200,
) -> Response:
    incident = await service.get(uow, incident_id)
    context = {
        "viewer": viewer,
        "section": "incidents",
        "incident": incident,
        "linked": await repository.linked(uow.session, incident.id),
        "updates": await repository.updates(uow.session, incident.id),
        "states": states(),
        "notices": notices(),
        "done": done,
        "errors": errors,
        "manage": viewer.principal.sees_all_tickets and incident.status != IncidentStatus.RESOLVED,
    }
    return render(request, "ui/incidents/detail.html", context, status_code=status_code)


async def _act(
    request: Request, uow: Uow, viewer: Viewer, incident_id: int, action: Any, done: str
) -> Response:
    try:
        await action()
    except (ValidationError, AppError) as exc:
        await recover(uow, viewer)
        return await _detail(request, uow, viewer, incident_id, errors=_errors(exc), status_code=_status(exc))
    return RedirectResponse(f"/incidents/{incident_id}?done={done}", status_code=303)


@router.post("/incidents/{incident_id}")
async def incident_update(request: Request, incident_id: int, uow: Uow, viewer: SupervisorViewer) -> Response:
    values = _values(await request.form())
    if not values["title"]:
        values.pop("title")  # the form leaves the title as it is when emptied

    async def action() -> None:
        await service.update(uow, viewer.principal, incident_id, IncidentUpdateIn.model_validate(values))

    return await _act(request, uow, viewer, incident_id, action, "saved")


@router.post("/incidents/{incident_id}/link")
async def incident_link(request: Request, incident_id: int, uow: Uow, viewer: SupervisorViewer) -> Response:
    raw = text(await request.form(), "ticket_ids")
    numbers = [int(n) for n in re.findall(r"\d{1,18}", raw)][:500]

    async def action() -> None:
        if not numbers:
            raise_invalid()
        await service.link_by_hand(uow, viewer.principal, incident_id, numbers)

    return await _act(request, uow, viewer, incident_id, action, "linked")


def raise_invalid() -> None:
    raise InvalidInput(_("Give ticket numbers, e.g. 1042, 1043."), field="ticket_ids")


@router.post("/incidents/{incident_id}/unlink/{ticket_id}")
async def incident_unlink(
    request: Request, incident_id: int, ticket_id: int, uow: Uow, viewer: SupervisorViewer
) -> Response:
    async def action() -> None:
        await service.unlink(uow, viewer.principal, incident_id, ticket_id)

    return await _act(request, uow, viewer, incident_id, action, "saved")


@router.post("/incidents/{incident_id}/updates")
async def incident_post(request: Request, incident_id: int, uow: Uow, viewer: SupervisorViewer) -> Response:
    message = text(await request.form(), "text")

    async def action() -> None:
        if not message:
            raise_empty()
        await service.post_update(uow, viewer.principal, incident_id, message[:20_000])

    return await _act(request, uow, viewer, incident_id, action, "posted")


@router.post("/incidents/{incident_id}/resolve")
async def incident_resolve(
    request: Request, incident_id: int, uow: Uow, viewer: SupervisorViewer
) -> Response:
    message = text(await request.form(), "text")

    async def action() -> None:
        if not message:
            raise_empty()
        await service.resolve(uow, viewer.principal, incident_id, message[:20_000])

    return await _act(request, uow, viewer, incident_id, action, "resolved")


def raise_empty() -> None:
    raise InvalidInput(_("Write the message first."), field="text")
