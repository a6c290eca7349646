"""Admin screens for automation: ordered rules with a structured editor, the dry run, each rule's
run audit (webhooks and the allow-list are in admin_webhooks).

The editor offers exactly what the automation module knows (its event kinds, the operators of each
condition field, the registered action kinds and their parameter models) and the service checks
every rule, so a new field or action appears here without a change to this module.
"""

from __future__ import annotations

import re
import typing
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.automation import actions, conditions
from opora.automation import repository as automation_repository
from opora.automation import service as automation_service
from opora.automation.schemas import (
    TRIGGER_KINDS,
    DryRunIn,
    RuleIn,
    RuleUpdate,
)
from opora.kit.errors import AppError
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, Direction, Priority
from opora.web.i18n import gettext as _
from opora.web.templating import is_htmx, render
from opora.web.ui import repository
from opora.web.ui.admin_common import Errors, checked, ids, page, text, texts
from opora.web.ui.admin_routing import Attempt, whole, words
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

LIST_OPS = {"in", "not_in", "includes_any", "includes_all", "excludes", "contains", "not_contains"}
WHOLE_FIELDS = {"team_id", "assignee_id", "minutes_since_created", "minutes_since_customer_message"}
BLANK_ROWS = 2


def vocabulary() -> dict[str, Any]:
    """What GET /api/v1/automation/vocabulary answers, plus each action's parameters and widget."""
    return {
        "events": list(TRIGGER_KINDS),
        "fields": {name: list(spec.ops) for name, spec in conditions.FIELDS.items()},
        "actions": {kind: _params(kind) for kind in actions.kinds()},
    }


def _params(kind: str) -> list[tuple[str, str, list[str], bool]]:
    """(name, widget, choices, required) per parameter of an action kind, read from its parameter model."""
    spec = actions.kind(kind)
    result = []
    for name, info in (spec.params.model_fields if spec else {}).items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        named = {"team_id": "team", "assignee_id": "agent", "agent_ids": "agents", "webhook_id": "webhook"}
        choices: list[str] = []
        if name in named or name == "tags":
            widget = named.get(name, "tags")
        elif annotation is bool:
            widget = "check"
        elif annotation is str:
            widget = "textarea"
        elif any(isinstance(a, type) and issubclass(a, BaseModel) for a in (annotation, *args)):
            widget = "localized"
        elif isinstance(annotation, type) and issubclass(annotation, Enum):
            widget, choices = "choice", [m.value for m in annotation]
        elif typing.get_origin(annotation) is typing.Literal:
            widget, choices = "choice", [str(a) for a in args]
        else:
            widget = "line"
        result.append((name, widget, choices, info.is_required()))
    return result


# -- reading the editor ------------------------------------------------------------------------------


def _value(field: str, op: str, raw: str) -> Any:
    def one(item: str) -> Any:
        if field in WHOLE_FIELDS and item.isdigit():
            return int(item)
        if field == "message.internal" and item in ("true", "false"):
            return item == "true"
        return item or None

    return [one(item) for item in words(raw)] if op in LIST_OPS else one(raw)


def shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _rows(form: FormData, prefix: str) -> range:
    return range(min(whole(text(form, f"{prefix}_count")) or 0, 100))


def _rule_values(form: FormData) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The rule as the service takes it, and which page row each condition and action came from."""
    where: dict[str, list[int]] = {"all": [], "any": [], "actions": []}
    groups: dict[str, list[dict[str, Any]]] = {"all": [], "any": []}
    for i in _rows(form, "c"):
        field, op = text(form, f"c{i}_field"), text(form, f"c{i}_op")
        if field:
            group = "any" if text(form, f"c{i}_group") == "any" else "all"
            groups[group].append(
                {"field": field, "op": op, "value": _value(field, op, text(form, f"c{i}_value"))}
            )
            where[group].append(i)
    found = []
    for i in _rows(form, "a"):
        kind = text(form, f"a{i}_type")
        if not kind:
            continue
        action: dict[str, Any] = {"type": kind}
        for name, widget, _choices, required in _params(kind):
            key = f"a{i}_{name}"
            if widget == "localized":
                localized = {lang: text(form, f"{key}_{lang}") or None for lang in ("ru", "en")}
                if required or any(localized.values()):
                    action[name] = localized
            elif widget in ("team", "agent", "webhook"):
                action[name] = whole(text(form, key))
            elif widget == "tags":
                action[name] = words(text(form, key))
            elif widget == "agents":
                action[name] = ids(form, key) or []
            elif widget == "check":
                action[name] = checked(form, key)
            else:
                action[name] = text(form, key) or None
        found.append(action)
        where["actions"].append(i)
    values = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "is_active": checked(form, "is_active"),
        "events": texts(form, "events"),
        "conditions": groups,
        "actions": found,
    }
    return values, where


def _refusal(exc: AppError, where: dict[str, list[int]]) -> Errors:
    """``conditions.any[1].op`` or ``actions[0].text`` back onto the page row it came from."""
    path = exc.field or ""
    if match := re.match(r"conditions\.(all|any)\[(\d+)\]\.?(\w*)", path):
        rows, part = where[match[1]], match[3]
        messages = {
            "field": _("Choose a field from the list."),
            "op": _("Choose an operator this field allows."),
        }
        message = messages.get(part, _("Check the value of this condition."))
        return {f"c{rows[int(match[2])]}" if int(match[2]) < len(rows) else "conditions": message}
    if match := re.match(r"actions\[(\d+)\]\.?(\w*)", path):
        rows = where["actions"]
        message = (
            _("Choose an action from the list.")
            if match[2] == "type"
            else _("Check the parameters of this action.")
        )
        return {f"a{rows[int(match[1])]}" if int(match[1]) < len(rows) else "actions": message}
    return {path.split(".")[0] or "actions": _messages().get(path.split(".")[0], exc.message)}


def _messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "description": _("The description is limited to 2000 characters."),
        "events": _("Choose at least one event."),
        "conditions": _("Check the conditions."),
        "actions": _("Add at least one action (up to 20)."),
    }


def _form_rows(values: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Condition and action rows for the page: the rule's own plus blank ones to add more."""
    cond_rows = [
        {**c, "group": g, "value": shown(c["value"])} for g in ("all", "any") for c in values["conditions"][g]
    ]
    blank = {"group": "all", "field": "", "op": "", "value": ""}
    action_rows = [*values["actions"], *({"type": ""} for _ in range(BLANK_ROWS))]
    return [*cond_rows, *(blank for _ in range(BLANK_ROWS))], action_rows


async def _rule_page(
    request: Request, uow: Uow, viewer: Viewer, rule_id: int | None, values: dict[str, Any], **extra: Any
) -> Response:
    directory = await repository.directory(uow.session)
    cond_rows, action_rows = _form_rows(values)
    attempt = extra.get("attempt")
    context = page(
        viewer,
        "rules",
        rule_id=rule_id,
        values=values,
        errors=attempt.errors if attempt else {},
        cond_rows=cond_rows,
        action_rows=action_rows,
        **await _choices(uow, directory),
    )
    return render(
        request, "ui/admin/rules_form.html", context, status_code=attempt.status_code if attempt else 200
    )


async def _choices(uow: Uow, directory: repository.Directory) -> dict[str, Any]:
    return {
        "vocabulary": vocabulary(),
        "suggested": {
            "status": Status,
            "priority": Priority,
            "message.direction": Direction,
            "message.author_type": AuthorType,
        },
        "teams": list(directory.teams.values()),
        "agents": directory.active_agents(),
        "webhooks": list(await automation_repository.list_webhooks(uow.session)),
        "shown": shown,
    }


# -- rules ---------------------------------------------------------------------------------------------


@router.get("/admin/rules")
async def rules_list(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    return await _rules_page(request, uow, viewer, done=done)


async def _rules_page(request: Request, uow: Uow, viewer: Viewer, **extra: Any) -> Response:
    rules = list(await automation_repository.list_rules(uow.session))
    context = page(viewer, "rules", rules=rules, events=TRIGGER_KINDS, **{"dry": {}, "errors": {}, **extra})
    block = "dry_run" if is_htmx(request) and "dry" in extra else None
    return render(
        request, "ui/admin/rules.html", context, block=block, status_code=extra.pop("status_code", 200)
    )


@router.get("/admin/rules/{rule_id}")
@router.get("/admin/rules/new")
async def rule_edit(request: Request, uow: Uow, viewer: AdminViewer, rule_id: int | None = None) -> Response:
    keys = ("name", "description", "is_active", "events", "conditions", "actions")
    if rule_id is None:
        values = {**dict.fromkeys(keys, ""), "is_active": True, "events": [], "actions": []}
        values["conditions"] = {"all": [], "any": []}
    else:
        rule = await automation_service.get_rule(uow, rule_id)
        values = {k: getattr(rule, k) for k in keys}
    return await _rule_page(request, uow, viewer, rule_id, values)


@router.post("/admin/rules/dry-run")
async def rule_dry_run(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    """What would fire for ticket #N on an event; the service writes nothing."""
    form = await request.form()
    given = {"ticket_id": whole(text(form, "ticket_id").lstrip("#")), "event_kind": text(form, "event_kind")}
    messages = {
        "ticket_id": _("Enter the number of an existing ticket."),
        "event_kind": _("Choose an event."),
    }
    attempt = Attempt(uow, viewer, messages)
    await attempt.run(DryRunIn, given, lambda d: automation_service.dry_run(uow, d))
    dry = {"ticket_id": text(form, "ticket_id"), "event_kind": given["event_kind"], "result": attempt.result}
    status_code = 200 if attempt.result else attempt.status_code
    return await _rules_page(request, uow, viewer, dry=dry, errors=attempt.errors, status_code=status_code)


@router.post("/admin/rules")
@router.post("/admin/rules/{rule_id}")
async def rule_save(request: Request, uow: Uow, viewer: AdminViewer, rule_id: int | None = None) -> Response:
    if rule_id is not None:
        await automation_service.get_rule(uow, rule_id)
    values, where = _rule_values(await request.form())
    attempt = Attempt(uow, viewer, _messages(), refusal=lambda exc: _refusal(exc, where))
    if rule_id is None:
        await attempt.run(RuleIn, values, lambda d: automation_service.create_rule(uow, viewer.principal, d))
    else:
        await attempt.run(RuleUpdate, values, lambda d: automation_service.update_rule(uow, rule_id, d))
    if attempt.errors:
        return await _rule_page(request, uow, viewer, rule_id, values, attempt=attempt)
    return RedirectResponse(f"/admin/rules?done={'created' if rule_id is None else 'saved'}", status_code=303)


@router.get("/admin/rules/rows/{kind}/{index}")
async def rule_row(request: Request, kind: str, index: int, uow: Uow, viewer: AdminViewer) -> Response:
    """One condition or action row again after its field or type changed (htmx): the operators
    or parameters follow the choice."""
    query = request.query_params
    row = {key: query.get(f"{kind}{index}_{key}", "") for key in ("group", "field", "op", "value", "type")}
    directory = await repository.directory(uow.session)
    context = {"viewer": viewer, "row": row, "i": index, "errors": {}, **await _choices(uow, directory)}
    block = "condition_row" if kind == "c" else "action_row"
    return render(request, "ui/admin/rules_form.html", context, block=block)


@router.post("/admin/rules/{rule_id}/{change}")
async def rule_change(request: Request, rule_id: int, change: str, uow: Uow, viewer: AdminViewer) -> Response:
    """Switch on/off, move up/down, or delete."""
    rule = await automation_service.get_rule(uow, rule_id)
    if change == "toggle":
        await automation_service.update_rule(uow, rule_id, RuleUpdate(is_active=not rule.is_active))
        return RedirectResponse(
            f"/admin/rules?done={'activated' if rule.is_active is False else 'deactivated'}", status_code=303
        )
    if change == "delete":
        await automation_service.delete_rule(uow, rule_id)
        return RedirectResponse("/admin/rules?done=deleted", status_code=303)
    order = [r.id for r in await automation_repository.list_rules(uow.session)]
    at = order.index(rule_id)
    to = at - 1 if change == "up" else at + 1
    if change in ("up", "down") and 0 <= to < len(order):
        order[at], order[to] = order[to], order[at]
        await automation_service.reorder(uow, order)
    return RedirectResponse("/admin/rules?done=saved", status_code=303)


@router.get("/admin/rules/{rule_id}/runs")
async def rule_runs(
    request: Request, rule_id: int, uow: Uow, viewer: AdminViewer, cursor: str | None = None
) -> Response:
    rule = await automation_service.get_rule(uow, rule_id)
    runs, next_cursor = await automation_service.list_runs(
        uow, rule_id=rule_id, ticket_id=None, limit=50, cursor=cursor
    )
    context = page(viewer, "rules", rule=rule, runs=runs, next_cursor=next_cursor, shown=shown)
    return render(request, "ui/admin/rules_runs.html", context)
