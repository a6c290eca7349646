"""What every admin screen shares: the side navigation, form reading, and errors shown by the field.

A refused form is rendered again with the message beside the field and a 4xx status, so the
request's unit of work rolls back and the refusal provably changes nothing (ADR 0002).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from opora.db import UnitOfWork
from opora.kit.errors import AppError
from opora.web.i18n import gettext as _
from opora.web.ui.deps import Viewer

Errors = dict[str, str]


def nav() -> list[tuple[str, str, str]]:
    """(key, url, label) of the admin side menu, in the page's language."""
    return [
        ("overview", "/admin", _("Overview")),
        ("agents", "/admin/agents", _("Agents")),
        ("teams", "/admin/teams", _("Teams")),
        ("channels", "/admin/channels", _("Channels")),
        ("templates", "/admin/templates", _("Templates")),
        ("jobs", "/admin/jobs", _("Failed jobs")),
        ("inbound", "/admin/inbound", _("Quarantined messages")),
    ]


def notices() -> dict[str, str]:
    """Messages shown once after a redirect (``?done=key``)."""
    return {
        "created": _("Created."),
        "saved": _("Saved."),
        "deleted": _("Deleted."),
        "deactivated": _("Deactivated."),
        "activated": _("Activated."),
        "retried": _("Queued again."),
        "training": _("Retraining is queued; the new version appears here when it is ready."),
    }


def page(viewer: Viewer, active: str, **extra: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "section": "admin",
        "nav": nav(),
        "active": active,
        "notices": notices(),
        **extra,
    }


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field, in the order of the page; files are skipped."""
    return [v if isinstance(v, str) else "" for v in form.getlist(name)]


def ids(form: FormData, name: str) -> list[int] | None:
    """Ids ticked in a group of check boxes; None when one is not a number (a forged form)."""
    values = [v.strip() for v in texts(form, name) if v.strip()]
    if not all(v.isdigit() and len(v) < 19 for v in values):
        return None
    return sorted({int(v) for v in values})


def checked(form: FormData, name: str) -> bool:
    return name in form


def from_validation(exc: ValidationError, messages: Mapping[str, str]) -> Errors:
    """Pydantic's findings as one translated message per form field."""
    errors: Errors = {}
    for item in exc.errors():
        loc = item.get("loc", ())
        field = str(loc[0]) if loc else ""
        errors.setdefault(field, messages.get(field) or _("Check this value."))
    return errors


def from_refusal(exc: AppError, messages: Mapping[str, str]) -> Errors:
    """A service's refusal beside its field; the service's own (English) words when the page
    has no translation for that field."""
    field = (exc.field or "").split(".")[0]
    return {field: messages.get(field) or exc.message}


async def recover(uow: UnitOfWork, viewer: Viewer) -> None:
    """Undo a refused attempt before rendering the form again: the page must show the stored state,
    and a failed flush leaves the session unusable until rolled back."""
    await uow.restart()
    await uow.session.refresh(viewer.agent)


async def save_valid(
    uow: UnitOfWork,
    viewer: Viewer,
    errors: Errors,
    save: Callable[[], Awaitable[object]],
    refusals: Mapping[str, str],
) -> int | None:
    """Run ``save`` when the form had no errors. None when it saved; otherwise ``errors`` holds why
    (the form's own findings, or the service's refusal beside its field), the session is recovered,
    and the answer is the status to show the form again with."""
    status_code = 422
    if not errors:
        try:
            await save()
            return None
        except AppError as exc:
            errors.update(from_refusal(exc, refusals))
            status_code = exc.status_code
    await recover(uow, viewer)
    return status_code
