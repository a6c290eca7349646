"""Admin screens for outbound webhooks (secret shown once, test ping, delivery log) and the
allow-list of private networks that webhooks may reach."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth.deps import RuntimeDep, Uow
from opora.automation import repository as automation_repository
from opora.automation import service as automation_service
from opora.automation.schemas import AllowIn, WebhookIn, WebhookUpdate
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import checked, notices, page, text
from opora.web.ui.admin_routing import Attempt
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

# -- webhooks and the allow-list ------------------------------------------------------------------------


def _webhook_messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "url": _("Enter an address starting with http:// or https://."),
        "secret": _("A secret has 16 to 200 characters; leave it empty to have one made."),
        "network": _("Enter an address or a network such as 10.0.0.0/8."),
        "note": _("The note is limited to 200 characters."),
    }


def _webhook_notices() -> dict[str, str]:
    return {**notices(), "pinged": _("A test delivery is queued; its result appears in the log below.")}


async def _webhooks_page(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: Viewer, **extra: Any
) -> Response:
    webhooks = [
        automation_service.webhook_out(w, runtime)
        for w in await automation_repository.list_webhooks(uow.session)
    ]
    allowed = list(await automation_repository.list_allowed(uow.session))
    attempt = extra.pop("attempt", None)
    defaults = {"errors": attempt.errors if attempt else {}, "values": {}, "allow": {}}
    context = page(viewer, "webhooks", webhooks=webhooks, allowed=allowed, **{**defaults, **extra})
    status_code = attempt.status_code if attempt else 200
    return render(request, "ui/admin/rules_webhooks.html", context, status_code=status_code)


@router.get("/admin/webhooks")
async def webhooks_list(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer, done: str = ""
) -> Response:
    return await _webhooks_page(request, uow, runtime, viewer, done=done)


async def _webhook_page(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: Viewer, webhook_id: int, **extra: Any
) -> Response:
    webhook = automation_service.webhook_out(await automation_service.get_webhook(uow, webhook_id), runtime)
    deliveries, _next = await automation_service.list_deliveries(uow, webhook_id, limit=50, cursor=None)
    values = extra.pop("values", None) or webhook.model_dump()
    attempt = extra.pop("attempt", None)
    errors = attempt.errors if attempt else {}
    context = page(
        viewer, "webhooks", webhook=webhook, values=values, deliveries=deliveries, errors=errors, **extra
    )
    context["notices"] = _webhook_notices()
    status_code = attempt.status_code if attempt else 200
    return render(request, "ui/admin/rules_webhook.html", context, status_code=status_code)


@router.post("/admin/webhooks")
async def webhook_create(request: Request, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer) -> Response:
    form = await request.form()
    values = {"name": text(form, "name"), "url": text(form, "url"), "secret": text(form, "secret") or None}
    attempt = Attempt(uow, viewer, _webhook_messages())
    if not await attempt.run(WebhookIn, values, lambda d: automation_service.create_webhook(uow, runtime, d)):
        return await _webhooks_page(
            request,
            uow,
            runtime,
            viewer,
            values=values,
            attempt=attempt,
        )
    # The secret is shown on this answer only; later pages show its last characters.
    secret = automation_service.webhook_out(attempt.result, runtime, with_secret=True)
    return await _webhook_page(
        request, uow, runtime, viewer, attempt.result.id, secret=secret, done="created"
    )


@router.get("/admin/webhooks/{webhook_id}")
async def webhook_edit(
    request: Request, webhook_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer, done: str = ""
) -> Response:
    return await _webhook_page(request, uow, runtime, viewer, webhook_id, done=done)


@router.post("/admin/webhooks/{webhook_id}")
async def webhook_update(
    request: Request, webhook_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer
) -> Response:
    await automation_service.get_webhook(uow, webhook_id)
    form = await request.form()
    values = {"name": text(form, "name"), "url": text(form, "url"), "is_active": checked(form, "is_active")}
    rotate = checked(form, "rotate_secret")
    attempt = Attempt(uow, viewer, _webhook_messages())
    given = {**values, "rotate_secret": rotate}
    if not await attempt.run(
        WebhookUpdate, given, lambda d: automation_service.update_webhook(uow, runtime, webhook_id, d)
    ):
        return await _webhook_page(
            request,
            uow,
            runtime,
            viewer,
            webhook_id,
            values=values,
            attempt=attempt,
        )
    if rotate:
        secret = automation_service.webhook_out(attempt.result, runtime, with_secret=True)
        return await _webhook_page(request, uow, runtime, viewer, webhook_id, secret=secret, done="saved")
    return RedirectResponse(f"/admin/webhooks/{webhook_id}?done=saved", status_code=303)


@router.post("/admin/webhooks/{webhook_id}/ping")
async def webhook_ping(webhook_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await automation_service.send_test(uow, webhook_id)
    return RedirectResponse(f"/admin/webhooks/{webhook_id}?done=pinged", status_code=303)


@router.post("/admin/webhooks/{webhook_id}/delete")
async def webhook_delete(webhook_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await automation_service.delete_webhook(uow, webhook_id)
    return RedirectResponse("/admin/webhooks?done=deleted", status_code=303)


@router.post("/admin/outbound-allow")
async def allow_add(request: Request, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer) -> Response:
    form = await request.form()
    allow = {"network": text(form, "network"), "note": text(form, "note")}
    attempt = Attempt(uow, viewer, _webhook_messages())
    if not await attempt.run(AllowIn, allow, lambda d: automation_service.add_allowed(uow, d)):
        return await _webhooks_page(request, uow, runtime, viewer, allow=allow, attempt=attempt)
    return RedirectResponse("/admin/webhooks?done=created#allow", status_code=303)


@router.post("/admin/outbound-allow/{allow_id}/delete")
async def allow_delete(allow_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await automation_service.delete_allowed(uow, allow_id)
    return RedirectResponse("/admin/webhooks?done=deleted#allow", status_code=303)
