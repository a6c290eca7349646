"""Admin screens for agents and teams, on top of the agents module's use cases and shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opora.agents import service as agents_service
from opora.agents.models import Role
from opora.agents.schemas import AgentCreate, AgentUpdate, TeamCreate, TeamUpdate
from opora.auth.deps import Uow
from opora.sla import repository as sla_repository
from opora.web.i18n import LANGUAGES
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui import repository
from opora.web.ui.admin_common import Errors, checked, from_validation, ids, page, save_valid, text
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

ROLES = [role.value for role in Role]


def _agent_messages() -> dict[str, str]:
    return {
        "email": _("Enter a valid e-mail address."),
        "name": _("Enter a name of up to 200 characters."),
        "password": _("The password needs 8 to 200 characters."),
        "role": _("Choose a role from the list."),
        "language": _("Choose Russian or English."),
        "team_ids": _("Choose teams from the list."),
    }


def _agent_refusals() -> dict[str, str]:
    return {
        "email": _("An agent with this e-mail already exists."),
        "team_ids": _("Choose teams from the list."),
    }


def _team_messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "description": _("The description is limited to 2000 characters."),
        "calendar_id": _("Choose a calendar from the list."),
        "member_ids": _("Choose agents from the list."),
    }


def _team_refusals() -> dict[str, str]:
    return {**_team_messages(), "name": _("A team with this name already exists.")}


# Agents


@router.get("/admin/agents")
async def agents_list(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    directory = await repository.directory(uow.session)
    teams_of: dict[int, list[str]] = {}
    for team_id, member_ids in directory.members.items():
        for agent_id in member_ids:
            teams_of.setdefault(agent_id, []).append(directory.team_name(team_id))
    agents = sorted(directory.agents.values(), key=lambda a: (not a.is_active, a.name.lower()))
    context = page(viewer, "agents", agents=agents, teams_of=teams_of, done=done)
    return render(request, "ui/admin/agents.html", context)


async def _agent_form(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    agent_id: int | None,
    values: dict[str, Any],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    directory = await repository.directory(uow.session)
    context = page(
        viewer,
        "agents",
        agent_id=agent_id,
        values=values,
        errors=errors,
        roles=ROLES,
        teams=list(directory.teams.values()),
        languages=LANGUAGES,
        is_self=agent_id == viewer.agent.id,
    )
    return render(request, "ui/admin/agent_form.html", context, status_code=status_code)


@router.get("/admin/agents/new")
async def agent_new(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values = {"name": "", "email": "", "role": Role.AGENT.value, "team_ids": [], "language": "ru"}
    return await _agent_form(request, uow, viewer, agent_id=None, values=values, errors={})


@router.post("/admin/agents")
async def agent_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    form = await request.form()
    team_ids = ids(form, "team_ids")
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "email": text(form, "email"),
        "role": text(form, "role"),
        "language": text(form, "language") or "ru",
        "team_ids": team_ids or [],
    }
    errors: Errors = {} if team_ids is not None else {"team_ids": _("Choose teams from the list.")}
    try:
        data = AgentCreate.model_validate({**values, "password": text(form, "password") or None})
    except ValidationError as exc:
        errors.update(from_validation(exc, _agent_messages()))
    status_code = await save_valid(
        uow, viewer, errors, lambda: agents_service.create_agent(uow, data), _agent_refusals()
    )
    if status_code is not None:
        return await _agent_form(
            request, uow, viewer, agent_id=None, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/agents?done=created", status_code=303)


@router.get("/admin/agents/{agent_id}")
async def agent_edit(request: Request, agent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    agent = await agents_service.get_agent(uow, agent_id)
    out = (await agents_service.agent_out(uow, [agent]))[0]
    values = {**out.model_dump(), "role": out.role.value}
    return await _agent_form(request, uow, viewer, agent_id=agent_id, values=values, errors={})


@router.post("/admin/agents/{agent_id}")
async def agent_update(request: Request, agent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    agent = await agents_service.get_agent(uow, agent_id)
    form = await request.form()
    team_ids = ids(form, "team_ids")
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "email": agent.email,
        "role": text(form, "role"),
        "language": text(form, "language"),
        "is_active": checked(form, "is_active"),
        "team_ids": team_ids or [],
    }
    errors: Errors = {} if team_ids is not None else {"team_ids": _("Choose teams from the list.")}
    if agent_id == viewer.agent.id:
        # An admin locking themselves out could leave the desk without any admin.
        if values["role"] != Role.ADMIN:
            errors["role"] = _("You cannot take away your own administrator role.")
        if not values["is_active"]:
            errors["is_active"] = _("You cannot deactivate your own account.")
    changes = {key: value for key, value in values.items() if key != "email"}
    if password := text(form, "password"):
        changes["password"] = password
    try:
        data = AgentUpdate.model_validate(changes)
    except ValidationError as exc:
        errors.update(from_validation(exc, _agent_messages()))
    status_code = await save_valid(
        uow,
        viewer,
        errors,
        lambda: agents_service.update_agent(uow, viewer.principal, agent_id, data),
        _agent_refusals(),
    )
    if status_code is not None:
        return await _agent_form(
            request, uow, viewer, agent_id=agent_id, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/agents?done=saved", status_code=303)


# Teams


@router.get("/admin/teams")
async def teams_list(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    directory = await repository.directory(uow.session)
    calendars = {c.id: c.name for c in await sla_repository.list_calendars(uow.session)}
    context = page(viewer, "teams", directory=directory, calendars=calendars, done=done)
    return render(request, "ui/admin/teams.html", context)


async def _team_form(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    team_id: int | None,
    values: dict[str, Any],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    directory = await repository.directory(uow.session)
    agents = sorted(directory.agents.values(), key=lambda a: (not a.is_active, a.name.lower()))
    context = page(
        viewer,
        "teams",
        team_id=team_id,
        values=values,
        errors=errors,
        agents=agents,
        calendars=list(await sla_repository.list_calendars(uow.session)),
    )
    return render(request, "ui/admin/team_form.html", context, status_code=status_code)


def _team_values(form: Any) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    member_ids = ids(form, "member_ids")
    if member_ids is None:
        errors["member_ids"] = _("Choose agents from the list.")
    raw_calendar = text(form, "calendar_id")
    calendar_id = int(raw_calendar) if raw_calendar.isdigit() and len(raw_calendar) < 19 else None
    if raw_calendar and calendar_id is None:
        errors["calendar_id"] = _("Choose a calendar from the list.")
    values = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "calendar_id": calendar_id,
        "member_ids": member_ids or [],
    }
    return values, errors


@router.get("/admin/teams/new")
async def team_new(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values: dict[str, Any] = {"name": "", "description": "", "calendar_id": None, "member_ids": []}
    return await _team_form(request, uow, viewer, team_id=None, values=values, errors={})


@router.post("/admin/teams")
async def team_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values, errors = _team_values(await request.form())
    try:
        data = TeamCreate.model_validate(values)
    except ValidationError as exc:
        errors.update(from_validation(exc, _team_messages()))
    status_code = await save_valid(
        uow, viewer, errors, lambda: agents_service.create_team(uow, data), _team_refusals()
    )
    if status_code is not None:
        return await _team_form(
            request, uow, viewer, team_id=None, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/teams?done=created", status_code=303)


@router.get("/admin/teams/{team_id}")
async def team_edit(request: Request, team_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    team = await agents_service.get_team(uow, team_id)
    values = (await agents_service.team_out(uow, team)).model_dump()
    return await _team_form(request, uow, viewer, team_id=team_id, values=values, errors={})


@router.post("/admin/teams/{team_id}")
async def team_update(request: Request, team_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await agents_service.get_team(uow, team_id)
    values, errors = _team_values(await request.form())
    try:
        data = TeamUpdate.model_validate(values)
    except ValidationError as exc:
        errors.update(from_validation(exc, _team_messages()))
    status_code = await save_valid(
        uow, viewer, errors, lambda: agents_service.update_team(uow, team_id, data), _team_refusals()
    )
    if status_code is not None:
        return await _team_form(
            request, uow, viewer, team_id=team_id, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/teams?done=saved", status_code=303)
