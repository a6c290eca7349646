"""Admin screen for customer segment rules: the ordered list and one form to add or change a rule.

The form offers the figure fields and operators the customers module knows; the service checks
every rule (the same checks as the API), so a refused form shows the message by its row.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.automation.conditions import FIGURE_FIELDS
from opora.customers import figures, repository, segment_rules
from opora.customers.schemas import SegmentRuleIn, SegmentRuleUpdate
from opora.kit.errors import AppError
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, checked, page, text
from opora.web.ui.admin_routing import Attempt
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

ROWS = 4


def _messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "segment": _("Enter a segment of up to 40 characters, e.g. vip."),
        "conditions": _("Give at least one condition."),
    }


def _values(form: FormData) -> tuple[dict[str, Any], list[int]]:
    """The rule as the service takes it, and the page row of each condition."""
    group = "any" if text(form, "match") == "any" else "all"
    found, rows = [], []
    for i in range(ROWS):
        field = text(form, f"c{i}_field")
        if field:
            found.append({"field": field, "op": text(form, f"c{i}_op"), "value": text(form, f"c{i}_value")})
            rows.append(i)
    values = {
        "name": text(form, "name"),
        "segment": text(form, "segment"),
        "is_active": checked(form, "is_active"),
        "conditions": {"all": found if group == "all" else [], "any": found if group == "any" else []},
    }
    return values, rows


def _refusal(exc: AppError, rows: list[int]) -> Errors:
    if match := re.match(r"conditions\.(?:all|any)\[(\d+)\]", exc.field or ""):
        index = int(match[1])
        return {f"c{rows[index]}" if index < len(rows) else "conditions": _("Check this condition.")}
    key = (exc.field or "").split(".")[0] or "conditions"
    return {key: _messages().get(key, exc.message)}


def _form(values: dict[str, Any]) -> dict[str, Any]:
    conditions = values["conditions"]
    match = "any" if conditions.get("any") else "all"
    given = [*(conditions.get(match) or [])]
    rows = [*given, *({"field": "", "op": "", "value": ""} for _ in range(ROWS - len(given)))]
    return {**values, "match": match, "rows": rows[:ROWS]}


async def _page(request: Request, uow: Uow, viewer: Viewer, **extra: Any) -> Response:
    attempt: Attempt | None = extra.pop("attempt", None)
    values = extra.pop("values", None) or {
        "name": "",
        "segment": "",
        "is_active": True,
        "conditions": {"all": [], "any": []},
    }
    context = page(
        viewer,
        "segments",
        rules=list(await repository.list_segment_rules(uow.session)),
        form=_form(values),
        fields=list(FIGURE_FIELDS),
        operators=figures.OPERATORS,
        errors=attempt.errors if attempt else {},
        editing=extra.pop("editing", None),
        **extra,
    )
    status = attempt.status_code if attempt and attempt.errors else 200
    return render(request, "ui/admin/segments.html", context, status_code=status)


@router.get("/admin/segments")
async def segments_page(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    return await _page(request, uow, viewer, done=done)


@router.get("/admin/segments/{rule_id}")
async def segment_edit(request: Request, rule_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    rule = await segment_rules.get_rule(uow, rule_id)
    values = {k: getattr(rule, k) for k in ("name", "segment", "is_active", "conditions")}
    return await _page(request, uow, viewer, values=values, editing=rule.id)


@router.post("/admin/segments")
@router.post("/admin/segments/{rule_id}")
async def segment_save(
    request: Request, uow: Uow, viewer: AdminViewer, rule_id: int | None = None
) -> Response:
    if rule_id is not None:
        await segment_rules.get_rule(uow, rule_id)
    values, rows = _values(await request.form())
    attempt = Attempt(uow, viewer, _messages(), refusal=lambda exc: _refusal(exc, rows))
    if rule_id is None:
        await attempt.run(SegmentRuleIn, values, lambda d: segment_rules.create_rule(uow, d))
    else:
        await attempt.run(SegmentRuleUpdate, values, lambda d: segment_rules.update_rule(uow, rule_id, d))
    if attempt.errors:
        return await _page(request, uow, viewer, values=values, attempt=attempt, editing=rule_id)
    return RedirectResponse(
        f"/admin/segments?done={'created' if rule_id is None else 'saved'}", status_code=303
    )


@router.post("/admin/segments/{rule_id}/{change}")
async def segment_change(
    request: Request, rule_id: int, change: str, uow: Uow, viewer: AdminViewer
) -> Response:
    """Switch on/off, move up/down, or delete."""
    rule = await segment_rules.get_rule(uow, rule_id)
    if change == "toggle":
        await segment_rules.update_rule(uow, rule_id, SegmentRuleUpdate(is_active=not rule.is_active))
        return RedirectResponse(
            f"/admin/segments?done={'activated' if rule.is_active else 'deactivated'}", status_code=303
        )
    if change == "delete":
        await segment_rules.delete_rule(uow, rule_id)
        return RedirectResponse("/admin/segments?done=deleted", status_code=303)
    order = [r.id for r in await repository.list_segment_rules(uow.session)]
    at = order.index(rule_id)
    to = at - 1 if change == "up" else at + 1
    if change in ("up", "down") and 0 <= to < len(order):
        order[at], order[to] = order[to], order[at]
        await segment_rules.reorder(uow, order)
    return RedirectResponse("/admin/segments?done=saved", status_code=303)
