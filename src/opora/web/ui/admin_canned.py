"""Admin screens for the shared templates library, with a live preview of the variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opora.assist import service as assist_service
from opora.auth.deps import Uow
from opora.canned import service as canned_service
from opora.canned.models import CannedLanguage
from opora.canned.repository import CannedFilter
from opora.canned.schemas import MAX_BODY, CannedCreate, CannedUpdate
from opora.kit import placeholders
from opora.kit.errors import AppError, NotFound
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, from_refusal, from_validation, page, recover, text
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def sample_values(viewer: Viewer) -> Mapping[str, str | None]:
    """What the preview fills in: invented but plausible, in the admin's language."""
    customer = _("Irina Petrova")
    return {
        "customer.name": customer,
        "customer.first_name": customer.split()[0],
        "customer.email": "irina@example.com",
        "ticket.number": "1042",
        "ticket.subject": _("Where is my order?"),
        "ticket.status": "open",
        "agent.name": viewer.agent.name,
        "agent.first_name": (viewer.agent.name.split() or [""])[0],
        "order.number": "A-10025",
        "shop.name": _("Our shop"),
        "sla.expected_reply": _("within 2 hours"),
    }


def preview(viewer: Viewer, body: str) -> dict[str, Any]:
    return {
        "text": placeholders.render(body, sample_values(viewer)),
        "variables": placeholders.names_in(body),
        "unknown": placeholders.unknown_in(body),
    }


def _messages() -> dict[str, str]:
    return {
        "title": _("Enter a title of up to 200 characters."),
        "body": _("Write the text of the template."),
        "shortcut": _("A shortcut is one word of letters, digits, '_', '.' or '-'."),
        "language": _("Choose a language from the list."),
        "tags": _("Up to 20 tags of up to 50 characters each, without '|'."),
    }


def _refusal(exc: AppError) -> Errors:
    if exc.field == "body" and exc.extra.get("variables"):
        names = ", ".join("{{" + str(name) + "}}" for name in exc.extra["variables"])
        return {"body": _("These variables do not exist: {names}").format(names=names)}
    return from_refusal(exc, {"shortcut": _("Another shared template already uses this shortcut.")})


def _values(form: Any) -> dict[str, Any]:
    tags = [t.strip() for t in text(form, "tags").replace(";", ",").split(",") if t.strip()]
    return {
        "title": text(form, "title"),
        "body": form.get("body") if isinstance(form.get("body"), str) else "",
        "shortcut": text(form, "shortcut") or None,
        "language": text(form, "language") or CannedLanguage.ANY.value,
        "tags": tags,
    }


async def _form_page(
    request: Request,
    viewer: Viewer,
    *,
    canned_id: int | None,
    values: dict[str, Any],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    context = page(
        viewer,
        "templates",
        canned_id=canned_id,
        values=values,
        errors=errors,
        languages=[lang.value for lang in CannedLanguage],
        known=placeholders.KNOWN,
        preview=preview(viewer, values["body"]),
        max_body=MAX_BODY,
    )
    return render(request, "ui/admin/template_form.html", context, status_code=status_code)


async def _list_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    q: str = "",
    cursor: str | None = None,
    done: str = "",
    phrases: str | None = None,
    errors: Errors | None = None,
) -> Response:
    f = CannedFilter(viewer_id=viewer.agent.id, q=q or None, scope="shared")
    rows, next_cursor = await canned_service.list_canned(
        uow, viewer.principal, f, limit=PAGE_SIZE, cursor=cursor
    )
    if phrases is None:
        phrases = "\n".join(await assist_service.discouraged_phrases(uow))
    context = page(
        viewer,
        "templates",
        templates=rows,
        next_cursor=next_cursor,
        q=q,
        done=done,
        phrases=phrases,
        errors=errors or {},
    )
    return render(request, "ui/admin/templates.html", context, status_code=422 if errors else 200)


@router.get("/admin/templates")
async def templates_list(
    request: Request,
    uow: Uow,
    viewer: AdminViewer,
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: str = "",
) -> Response:
    return await _list_page(request, uow, viewer, q=q.strip(), cursor=cursor, done=done)


@router.post("/admin/templates/style")
async def style_update(
    request: Request,
    uow: Uow,
    viewer: AdminViewer,
    discouraged_phrases: Annotated[str, Form(max_length=50_000)] = "",
) -> Response:
    """The desk's discouraged phrases for the tone check, one per line."""
    try:
        await assist_service.update_settings(uow, discouraged_phrases.splitlines())
    except AppError:
        await recover(uow, viewer)
        message = _("Up to {count} phrases of up to {size} characters each, one per line.").format(
            count=assist_service.MAX_PHRASES, size=assist_service.MAX_PHRASE
        )
        return await _list_page(
            request, uow, viewer, phrases=discouraged_phrases, errors={"discouraged_phrases": message}
        )
    return RedirectResponse("/admin/templates?done=saved", status_code=303)


@router.get("/admin/templates/new")
async def template_new(request: Request, viewer: AdminViewer) -> Response:
    values: dict[str, Any] = {
        "title": "",
        "body": "",
        "shortcut": None,
        "language": CannedLanguage.ANY.value,
        "tags": [],
    }
    return await _form_page(request, viewer, canned_id=None, values=values, errors={})


@router.post("/admin/templates/preview")
async def template_preview(
    request: Request, viewer: AdminViewer, body: Annotated[str, Form(max_length=MAX_BODY)] = ""
) -> Response:
    """The preview panel alone, refreshed while the admin types (htmx)."""
    context = page(viewer, "templates", preview=preview(viewer, body))
    return render(request, "ui/admin/template_form.html", context, block="preview")


@router.post("/admin/templates")
async def template_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values = _values(await request.form())
    errors: Errors = {}
    try:
        data = CannedCreate.model_validate({**values, "shared": True})
    except ValidationError as exc:
        errors.update(from_validation(exc, _messages()))
    status_code = 422
    if not errors:
        try:
            await canned_service.create(uow, viewer.principal, data)
        except AppError as exc:
            errors, status_code = _refusal(exc), exc.status_code
    if errors:
        await recover(uow, viewer)
        return await _form_page(
            request, viewer, canned_id=None, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/templates?done=created", status_code=303)


@router.get("/admin/templates/{canned_id}")
async def template_edit(request: Request, canned_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    canned = await _shared(uow, viewer, canned_id)
    values = {key: getattr(canned, key) for key in ("title", "body", "shortcut", "language", "tags")}
    return await _form_page(request, viewer, canned_id=canned_id, values=values, errors={})


async def _shared(uow: Uow, viewer: Viewer, canned_id: int) -> Any:
    canned = await canned_service.visible(uow, viewer.principal, canned_id)
    if not canned.shared:
        # The admin's own personal templates are edited from the composer, not the library.
        raise NotFound(f"Canned response {canned_id} does not exist.")
    return canned


@router.post("/admin/templates/{canned_id}")
async def template_update(request: Request, canned_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await _shared(uow, viewer, canned_id)
    values = _values(await request.form())
    errors: Errors = {}
    try:
        data = CannedUpdate.model_validate(values)
    except ValidationError as exc:
        errors.update(from_validation(exc, _messages()))
    status_code = 422
    if not errors:
        try:
            await canned_service.update(uow, viewer.principal, canned_id, data)
        except AppError as exc:
            errors, status_code = _refusal(exc), exc.status_code
    if errors:
        await recover(uow, viewer)
        return await _form_page(
            request, viewer, canned_id=canned_id, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse("/admin/templates?done=saved", status_code=303)


@router.post("/admin/templates/{canned_id}/delete")
async def template_delete(canned_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await _shared(uow, viewer, canned_id)
    await canned_service.delete(uow, viewer.principal, canned_id)
    return RedirectResponse("/admin/templates?done=deleted", status_code=303)
