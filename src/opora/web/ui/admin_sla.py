"""Admin screens for business-hours calendars, SLA policies and the SLA settings.

Every write goes through ``opora.sla.service`` with the module's own input shapes, so the
calendar arithmetic and policy checks stay in one place; this module only turns form fields into
those shapes and puts a refusal back beside the field it names.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import holidays
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.kit.errors import AppError
from opora.sla import repository as sla_repository
from opora.sla import service as sla_service
from opora.sla.calendar import WEEKDAYS
from opora.sla.models import Metric
from opora.sla.schemas import CalendarCreate, CalendarUpdate, PolicyCreate, PolicyUpdate, SettingsUpdate
from opora.tickets.models import Priority
from opora.web.i18n import gettext as _
from opora.web.i18n import use_language
from opora.web.templating import render
from opora.web.ui import admin_canned, repository
from opora.web.ui.admin_common import Errors, checked, from_refusal, ids, page, text, texts
from opora.web.ui.admin_routing import Attempt, channel_types, whole, words
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

LANGS = ("ru", "en")
TEXT_KEYS = ("autoack_templates", "out_of_hours_templates")
METRICS = [m.value for m in Metric]


# -- calendars --------------------------------------------------------------------------------------


def _calendar_messages() -> dict[str, str]:
    hours = _(
        "Times are HH:MM from 00:00 to 24:00; each interval ends after it starts and intervals do not overlap."
    )
    return {
        "name": _("Enter a name of up to 200 characters."),
        "timezone": _("Choose a time zone from the list, e.g. Europe/Moscow."),
        "holiday_country": _("Enter a country code the holidays list knows, e.g. RU."),
        "weekly_hours": hours,
        "overrides": _(
            "Each override needs a date, once; working hours as HH:MM; a note of up to 200 characters."
        ),
    }


def _hours_from(form: FormData, prefix: str) -> tuple[list[list[str]], bool]:
    """Intervals typed as pairs of open/close inputs; blank pairs are skipped, half pairs flagged."""
    pairs = zip(texts(form, f"{prefix}_open"), texts(form, f"{prefix}_close"), strict=False)
    spans = [[start.strip(), end.strip()] for start, end in pairs if start.strip() or end.strip()]
    return spans, all(start and end for start, end in spans)


def _calendar_values(form: FormData) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    weekly: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        spans, complete = _hours_from(form, day)
        if not complete:
            errors[f"hours_{day}"] = _("Give both the opening and the closing time.")
        if spans:
            weekly[day] = spans
    overrides = []
    # Rows ov0..ovN: the stored dates plus one blank row to add a date; a ticked row is removed.
    for i in range(min(whole(text(form, "ov_count")) or 0, 2000)):
        hours, complete = _hours_from(form, f"ov{i}")
        day, kind = text(form, f"ov{i}_date"), text(form, f"ov{i}_kind")
        if checked(form, f"ov{i}_remove") or not (day or hours):
            continue
        if kind == "open" and not (hours and complete):
            errors["overrides"] = _("Give the opening and closing time of a working day.")
        overrides.append(
            {"date": day, "hours": hours if kind == "open" else [], "note": text(form, f"ov{i}_note")}
        )
    values = {
        "name": text(form, "name"),
        "timezone": text(form, "timezone"),
        "holiday_country": text(form, "holiday_country").upper() or None,
        "weekly_hours": weekly,
        "overrides": overrides,
    }
    return values, errors


def _calendar_refusal(exc: AppError) -> Errors:
    """Bad hours go beside their weekday (the service names it: ``weekly hours: tue: ...``)."""
    messages = {**_calendar_messages(), "name": _("A calendar with this name already exists.")}
    errors = from_refusal(exc, messages)
    if exc.field == "overrides" and "twice" in exc.message:
        return {"overrides": _("A date may have only one override.")}
    if exc.field == "weekly_hours":
        days = [day for day in WEEKDAYS if f"{day}:" in exc.message or f" {day} " in exc.message]
        return {f"hours_{days[0]}" if days else "weekly_hours": messages["weekly_hours"]}
    return errors


async def _calendar_page(
    request: Request, uow: Uow, viewer: Viewer, calendar_id: int | None, values: dict[str, Any], **extra: Any
) -> Response:
    context = page(
        viewer,
        "calendars",
        calendar_id=calendar_id,
        values=values,
        errors=extra.get("errors", {}),
        weekdays=WEEKDAYS,
        timezones=sorted(available_timezones()),
        countries=sorted(holidays.list_supported_countries()),
        done=extra.get("done", ""),
    )
    status_code = extra.get("status_code", 200)
    return render(request, "ui/admin/sla_calendar_form.html", context, status_code=status_code)


@router.get("/admin/calendars")
async def calendars_list(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    calendars = await sla_service.calendar_out(uow, await sla_repository.list_calendars(uow.session))
    default_id = (await sla_service.settings_row(uow)).default_calendar_id
    context = page(viewer, "calendars", calendars=calendars, default_id=default_id, done=done)
    return render(request, "ui/admin/sla_calendars.html", context)


@router.get("/admin/calendars/{calendar_id}")
@router.get("/admin/calendars/new")
async def calendar_edit(
    request: Request, uow: Uow, viewer: AdminViewer, calendar_id: int | None = None, done: str = ""
) -> Response:
    if calendar_id is None:
        weekly = {day: [["09:00", "18:00"]] for day in WEEKDAYS[:5]}
        values = {"name": "", "timezone": "Europe/Moscow", "holiday_country": "RU", "weekly_hours": weekly}
        values["overrides"] = []
    else:
        out = await sla_service.calendar_out(uow, [await sla_service.get_calendar(uow, calendar_id)])
        values = out[0].model_dump(mode="json")
    return await _calendar_page(request, uow, viewer, calendar_id, values, done=done)


@router.post("/admin/calendars")
@router.post("/admin/calendars/{calendar_id}")
async def calendar_save(
    request: Request, uow: Uow, viewer: AdminViewer, calendar_id: int | None = None
) -> Response:
    if calendar_id is not None:
        await sla_service.get_calendar(uow, calendar_id)
    values, errors = _calendar_values(await request.form())
    done = Attempt(uow, viewer, _calendar_messages(), errors, _calendar_refusal)
    if calendar_id is None:
        await done.run(CalendarCreate, values, lambda d: sla_service.create_calendar(uow, d))
    else:
        await done.run(CalendarUpdate, values, lambda d: sla_service.update_calendar(uow, calendar_id, d))
    if done.errors:
        return await _calendar_page(
            request, uow, viewer, calendar_id, values, errors=done.errors, status_code=done.status_code
        )
    notice = "created" if calendar_id is None else "saved"
    return RedirectResponse(f"/admin/calendars/{done.result.id}?done={notice}", status_code=303)


# -- SLA policies -----------------------------------------------------------------------------------


def _policy_messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "conditions": _("Choose the conditions from the lists; segments are words separated by commas."),
        "targets": _("Give at least one target: whole minutes from 1 to 527040."),
        "warning_percent": _("Enter a share from 1 to 100 percent."),
    }


def _policy_values(form: FormData) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    team_ids = ids(form, "team_ids")
    if team_ids is None:
        errors["conditions"] = _policy_messages()["conditions"]
    targets: dict[str, Any] = {}
    for metric in METRICS:
        raw = text(form, f"{metric}_minutes")
        calendar = text(form, f"{metric}_calendar")
        if raw and (whole(raw) is None or (calendar and whole(calendar) is None)):
            errors["targets"] = _policy_messages()["targets"]
        targets[metric] = {
            "minutes": raw,
            "business": checked(form, f"{metric}_business"),
            "calendar_id": whole(calendar),
        }
    values = {
        "name": text(form, "name"),
        "is_active": checked(form, "is_active"),
        "conditions": {
            "channel_types": texts(form, "channel_types"),
            "priorities": texts(form, "priorities"),
            "segments": words(text(form, "segments")),
            "team_ids": team_ids or [],
        },
        "targets": targets,
        "warning_percent": text(form, "warning_percent"),
    }
    return values, errors


def _policy_input(values: dict[str, Any]) -> dict[str, Any]:
    targets = {
        metric: {**spec, "minutes": whole(spec["minutes"])}
        for metric, spec in values["targets"].items()
        if spec["minutes"]
    }
    return {**values, "targets": targets, "warning_percent": whole(values["warning_percent"]) or 0}


async def _policy_page(
    request: Request, uow: Uow, viewer: Viewer, policy_id: int | None, values: dict[str, Any], **extra: Any
) -> Response:
    directory = await repository.directory(uow.session)
    context = page(
        viewer,
        "sla_policies",
        policy_id=policy_id,
        values=values,
        errors=extra.get("errors", {}),
        teams=list(directory.teams.values()),
        calendars=list(await sla_repository.list_calendars(uow.session)),
        channel_types=channel_types(*values["conditions"]["channel_types"]),
        priorities=[p.value for p in Priority],
        metrics=METRICS,
    )
    status_code = extra.get("status_code", 200)
    return render(request, "ui/admin/sla_policy_form.html", context, status_code=status_code)


@router.get("/admin/sla-policies")
async def policies_list(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    policies = [sla_service.policy_out(p) for p in await sla_repository.list_policies(uow.session)]
    directory = await repository.directory(uow.session)
    context = page(viewer, "sla_policies", policies=policies, directory=directory, done=done)
    return render(request, "ui/admin/sla_policies.html", context)


@router.get("/admin/sla-policies/{policy_id}")
@router.get("/admin/sla-policies/new")
async def policy_edit(
    request: Request, uow: Uow, viewer: AdminViewer, policy_id: int | None = None
) -> Response:
    empty = {"minutes": "", "business": True, "calendar_id": None}
    if policy_id is None:
        conditions: dict[str, list[Any]] = {
            "channel_types": [],
            "priorities": [],
            "segments": [],
            "team_ids": [],
        }
        values: dict[str, Any] = {"name": "", "is_active": True, "conditions": conditions, "targets": {}}
        values["warning_percent"] = 80
    else:
        values = sla_service.policy_out(await sla_service.get_policy(uow, policy_id)).model_dump()
    values["targets"] = {m: {**(values["targets"].get(m) or empty)} for m in METRICS}
    return await _policy_page(request, uow, viewer, policy_id, values)


@router.post("/admin/sla-policies")
@router.post("/admin/sla-policies/{policy_id}")
async def policy_save(
    request: Request, uow: Uow, viewer: AdminViewer, policy_id: int | None = None
) -> Response:
    values, errors = _policy_values(await request.form())
    given = _policy_input(values)
    messages = {**_policy_messages(), "": _policy_messages()["targets"]}
    refusal = {**messages, "name": _("A policy with this name already exists.")}
    done = Attempt(uow, viewer, messages, errors, lambda e: from_refusal(e, refusal))
    if policy_id is None:
        # A new policy goes last: it must not silently take over tickets the older ones match.
        last = max((p.position for p in await sla_repository.list_policies(uow.session)), default=-1)
        given["position"] = last + 1
        await done.run(PolicyCreate, given, lambda d: sla_service.create_policy(uow, d))
    else:
        await sla_service.get_policy(uow, policy_id)
        await done.run(PolicyUpdate, given, lambda d: sla_service.update_policy(uow, policy_id, d))
    if done.errors:
        if "" in done.errors:  # a policy without any target
            done.errors["targets"] = done.errors.pop("")
        return await _policy_page(
            request, uow, viewer, policy_id, values, errors=done.errors, status_code=done.status_code
        )
    return RedirectResponse(f"/admin/sla-policies?done={'created' if policy_id is None else 'saved'}", 303)


@router.post("/admin/sla-policies/{policy_id}/move")
async def policy_move(request: Request, policy_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    """Up or down by one; positions are then renumbered 0..n-1 through the service."""
    await sla_service.get_policy(uow, policy_id)
    order = [p.id for p in await sla_repository.list_policies(uow.session)]
    at = order.index(policy_id)
    to = at - 1 if text(await request.form(), "direction") == "up" else at + 1
    if 0 <= to < len(order):
        order[at], order[to] = order[to], order[at]
        for position, moved_id in enumerate(order):
            await sla_service.update_policy(uow, moved_id, PolicyUpdate(position=position))
    return RedirectResponse("/admin/sla-policies?done=saved", status_code=303)


@router.post("/admin/sla-policies/{policy_id}/delete")
async def policy_delete(policy_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await sla_service.delete_policy(uow, policy_id)
    return RedirectResponse("/admin/sla-policies?done=deleted", status_code=303)


# -- SLA settings -----------------------------------------------------------------------------------


def _settings_messages() -> dict[str, str]:
    return {
        "default_calendar_id": _("Choose a calendar from the list."),
        **{key: _("Use only the listed variables, e.g. {{sla.expected_reply}}.") for key in TEXT_KEYS},
    }


async def _settings_page(
    request: Request, uow: Uow, viewer: Viewer, values: dict[str, Any], **extra: Any
) -> Response:
    previews = {}
    for key in TEXT_KEYS:
        for lang in LANGS:
            # Each text is filled in with sample values in its own language.
            with use_language(lang):
                previews[f"{key}.{lang}"] = admin_canned.preview(viewer, values[key][lang])
    context = page(
        viewer,
        "sla_settings",
        values=values,
        errors=extra.get("errors", {}),
        calendars=list(await sla_repository.list_calendars(uow.session)),
        previews=previews,
        text_keys=TEXT_KEYS,
        done=extra.get("done", ""),
    )
    status_code = extra.get("status_code", 200)
    return render(request, "ui/admin/sla_settings.html", context, status_code=status_code)


@router.get("/admin/sla-settings")
async def settings_edit(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    values = sla_service.settings_out(await sla_service.settings_row(uow)).model_dump()
    return await _settings_page(request, uow, viewer, values, done=done)


@router.post("/admin/sla-settings")
async def settings_update(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    form = await request.form()
    raw_calendar = text(form, "default_calendar_id")
    values: dict[str, Any] = {
        "default_calendar_id": whole(raw_calendar),
        "autoack_enabled": checked(form, "autoack_enabled"),
        **{key: {lang: text(form, f"{key}.{lang}") for lang in LANGS} for key in TEXT_KEYS},
    }
    messages = _settings_messages()
    errors: Errors = {}
    if raw_calendar and values["default_calendar_id"] is None:
        errors["default_calendar_id"] = messages["default_calendar_id"]
    # An emptied text keeps the stored one: the service merges the languages given.
    given = {**values, **{key: {k: v or None for k, v in values[key].items()} for key in TEXT_KEYS}}
    done = Attempt(uow, viewer, messages, errors)
    await done.run(SettingsUpdate, given, lambda d: sla_service.update_settings(uow, d))
    if done.errors:
        return await _settings_page(
            request, uow, viewer, values, errors=done.errors, status_code=done.status_code
        )
    return RedirectResponse("/admin/sla-settings?done=saved", status_code=303)


@router.post("/admin/sla-settings/preview")
async def settings_preview(request: Request, viewer: AdminViewer) -> Response:
    """One text's preview panel, refreshed while the admin types (htmx)."""
    form = await request.form()
    key = text(form, "key")
    if key not in {f"{k}.{lang}" for k in TEXT_KEYS for lang in LANGS}:
        key = "autoack_templates.ru"
    body = form.get(key)
    with use_language(key.rsplit(".", 1)[1]):
        preview = admin_canned.preview(viewer, body if isinstance(body, str) else "")
    return render(request, "ui/admin/sla_preview.html", {"preview": preview, "key": key})
