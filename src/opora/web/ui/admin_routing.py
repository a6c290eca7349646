"""Admin screens for assignment: each team's routing settings, each agent's capacity and skills,
and the live team queues (which supervisors may watch too).

Also the form plumbing the SLA and rules screens share (:class:`Attempt`): every write goes
through the feature's own service and input shape, never a copy of its rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.channels import registry
from opora.db import UnitOfWork
from opora.kit.errors import AppError, Forbidden
from opora.routing import repository as routing_repository
from opora.routing import service as routing_service
from opora.routing.decide import Policy
from opora.routing.schemas import AgentRoutingUpdate, Line, TeamRoutingUpdate
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui import repository
from opora.web.ui.admin_common import (
    Errors,
    checked,
    from_refusal,
    from_validation,
    page,
    recover,
    text,
    texts,
)
from opora.web.ui.deps import AdminViewer, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

M = TypeVar("M", bound=BaseModel)


@dataclass
class Attempt:
    """One form sent: checked with the feature's own input shape, then written by its service.

    A refusal lands beside its field and the attempt is undone, so the page shows the stored
    state and a refused form provably changes nothing (ADR 0002)."""

    uow: UnitOfWork
    viewer: Viewer
    messages: dict[str, str]
    errors: Errors = field(default_factory=dict)
    refusal: Callable[[AppError], Errors] | None = None
    status_code: int = 422
    result: Any = None

    async def run(self, shape: type[M], given: dict[str, Any], write: Callable[[M], Awaitable[Any]]) -> bool:
        try:
            data = shape.model_validate(given)
        except ValidationError as exc:
            self.errors.update(from_validation(exc, self.messages))
        if not self.errors:
            try:
                self.result = await write(data)
            except AppError as exc:
                refuse = self.refusal or (lambda e: from_refusal(e, self.messages))
                self.errors, self.status_code = refuse(exc), exc.status_code
        if self.errors:
            await recover(self.uow, self.viewer)
        return not self.errors


def whole(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def words(raw: str) -> list[str]:
    """A list typed with commas: ``vip, wholesale``."""
    return [w.strip() for w in raw.replace(";", ",").replace("\n", ",").split(",") if w.strip()]


def channel_types(*stored: str) -> list[str]:
    """The channel types the desk knows, plus any a stored setting still names."""
    return sorted(set(registry.known_types()) | {s for s in stored if s})


async def supervisor_viewer(page_viewer: ViewerDep) -> Viewer:
    if not page_viewer.principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins may do this.")
    return page_viewer


SupervisorViewer = Annotated[Viewer, Depends(supervisor_viewer)]


def _per_channel(form: FormData, prefix: str, number: Callable[[str], float]) -> tuple[dict[str, Any], bool]:
    """``{channel: number}`` from one input per channel type; blank inputs are left out."""
    found: dict[str, Any] = {}
    for channel in texts(form, f"{prefix}_channels"):
        raw = text(form, f"{prefix}_{channel}")
        if raw:
            try:
                found[channel] = number(raw.replace(",", "."))
            except ValueError:
                return found, False
    return found, True


# -- overview -------------------------------------------------------------------------------------


@router.get("/admin/routing")
async def routing_overview(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    directory = await repository.directory(uow.session)
    agents = directory.active_agents()
    ids = [a.id for a in agents]
    context = page(
        viewer,
        "routing",
        directory=directory,
        teams={t.team_id: t for t in await routing_service.list_team_settings(uow)},
        agents=agents,
        agent_settings=await routing_repository.agent_settings_for(uow.session, ids),
        load=await routing_repository.open_load(uow.session, ids),
        done=done,
    )
    return render(request, "ui/admin/routing.html", context)


# -- team settings ----------------------------------------------------------------------------------


def _team_messages() -> dict[str, str]:
    return {
        "policy": _("Choose a policy from the list."),
        "line": _("Choose a line from the list."),
        "escalation_team_id": _("Choose another team to escalate to."),
        "skill_fallback_seconds": _("Enter whole seconds from 0 to 604800 (one week)."),
        "channel_weights": _("A weight is a number above 0 and up to 100."),
    }


async def _team_page(
    request: Request, uow: Uow, viewer: Viewer, team_id: int, values: dict[str, Any], **extra: Any
) -> Response:
    directory = await repository.directory(uow.session)
    context = page(
        viewer,
        "routing",
        team=directory.teams[team_id],
        values=values,
        errors=extra.get("errors", {}),
        teams=[t for t in directory.teams.values() if t.id != team_id],
        policies=[p.value for p in Policy],
        lines=[line.value for line in Line],
        channel_types=channel_types(*values["channel_weights"]),
    )
    return render(request, "ui/admin/routing_team.html", context, status_code=extra.get("status_code", 200))


@router.get("/admin/routing/teams/{team_id}")
async def team_edit(request: Request, team_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    values = (await routing_service.get_team_settings(uow, team_id)).model_dump(mode="json")
    return await _team_page(request, uow, viewer, team_id, values)


@router.post("/admin/routing/teams/{team_id}")
async def team_update(request: Request, team_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await routing_service.get_team_settings(uow, team_id)
    form = await request.form()
    weights, numbers = _per_channel(form, "weight", float)
    raw_wait, raw_escalation = text(form, "skill_fallback_seconds"), text(form, "escalation_team_id")
    values: dict[str, Any] = {
        "policy": text(form, "policy"),
        "line": text(form, "line"),
        "escalation_team_id": whole(raw_escalation),
        "skill_fallback_seconds": whole(raw_wait),
        "channel_weights": weights,
    }
    messages = _team_messages()
    attempt = Attempt(uow, viewer, messages)
    if not numbers:
        attempt.errors["channel_weights"] = messages["channel_weights"]
    if values["skill_fallback_seconds"] is None:
        attempt.errors["skill_fallback_seconds"] = messages["skill_fallback_seconds"]
    if raw_escalation and values["escalation_team_id"] is None:
        attempt.errors["escalation_team_id"] = messages["escalation_team_id"]
    if not await attempt.run(
        TeamRoutingUpdate, values, lambda d: routing_service.update_team_settings(uow, team_id, d)
    ):
        values["skill_fallback_seconds"] = raw_wait
        return await _team_page(
            request, uow, viewer, team_id, values, errors=attempt.errors, status_code=attempt.status_code
        )
    return RedirectResponse("/admin/routing?done=saved", status_code=303)


# -- agent settings ---------------------------------------------------------------------------------


def _agent_messages() -> dict[str, str]:
    return {
        "capacity": _("A capacity is a whole number from 0 to 1000."),
        "default_capacity": _("A capacity is a whole number from 0 to 1000."),
        "skills": _("Topics of up to 100 characters; languages as two-letter codes such as ru or en."),
    }


async def _agent_page(
    request: Request, uow: Uow, viewer: Viewer, agent_id: int, values: dict[str, Any], **extra: Any
) -> Response:
    directory = await repository.directory(uow.session)
    context = page(
        viewer,
        "routing",
        agent=directory.agents[agent_id],
        values=values,
        errors=extra.get("errors", {}),
        channel_types=channel_types(*values["capacity"], *values["skills"]["channels"]),
    )
    return render(request, "ui/admin/routing_agent.html", context, status_code=extra.get("status_code", 200))


@router.get("/admin/routing/agents/{agent_id}")
async def agent_edit(request: Request, agent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    values = (await routing_service.get_agent_settings(uow, agent_id)).model_dump(mode="json")
    return await _agent_page(request, uow, viewer, agent_id, values)


@router.post("/admin/routing/agents/{agent_id}")
async def agent_update(request: Request, agent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    current = await routing_service.get_agent_settings(uow, agent_id)
    form = await request.form()
    capacity, numbers = _per_channel(form, "capacity", int)
    raw_default = text(form, "default_capacity")
    values: dict[str, Any] = {
        "capacity": capacity,
        "default_capacity": whole(raw_default),
        "skills": {
            "topics": words(text(form, "topics")),
            "languages": words(text(form, "languages")),
            "channels": texts(form, "skill_channels"),
            "vip": checked(form, "vip"),
        },
    }
    messages = _agent_messages()
    attempt = Attempt(uow, viewer, messages)
    if not numbers:
        attempt.errors["capacity"] = messages["capacity"]
    if values["default_capacity"] is None:
        attempt.errors["default_capacity"] = messages["default_capacity"]
    if not await attempt.run(
        AgentRoutingUpdate, values, lambda d: routing_service.update_agent_settings(uow, agent_id, d)
    ):
        values.update(default_capacity=raw_default, presence=current.presence, load=current.load)
        return await _agent_page(
            request, uow, viewer, agent_id, values, errors=attempt.errors, status_code=attempt.status_code
        )
    return RedirectResponse("/admin/routing?done=saved", status_code=303)


# -- the live queue ---------------------------------------------------------------------------------


@router.get("/admin/routing/queue")
async def routing_queue(
    request: Request, uow: Uow, viewer: SupervisorViewer, team_id: int | None = None
) -> Response:
    """Read-only: what waits for an agent, in the order routing will serve it."""
    directory = await repository.directory(uow.session)
    items = await routing_service.queue(uow, team_id)
    extra: dict[str, Any] = {}
    if not viewer.principal.is_admin:
        # A supervisor sees the one admin screen open to them, not links that would refuse them.
        extra["nav"] = [("routing_queue", "/admin/routing/queue", _("Routing queues"))]
    context = page(
        viewer,
        "routing_queue",
        items=items,
        directory=directory,
        team_id=team_id,
        settings={t.team_id: t for t in await routing_service.list_team_settings(uow)},
        **extra,
    )
    return render(request, "ui/admin/routing_queue.html", context)
