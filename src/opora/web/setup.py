"""Attach the HTML side to the app: page routers, static files, login redirects, error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from opora.kit.errors import AppError
from opora.web.i18n import gettext as _
from opora.web.portal import account_pages as portal_account
from opora.web.portal import common as portal_common
from opora.web.portal import kb_pages as portal_kb
from opora.web.templating import env, is_htmx
from opora.web.ui import admin_pages, assist_panel, inbox, session_pages, ticket_page, workspace_parts
from opora.web.ui.deps import LoginRequired

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    # The portal's account pages first: /help/{lang}/login must not be read as anything else.
    for module in (
        session_pages,
        inbox,
        ticket_page,
        workspace_parts,
        assist_panel,
        admin_pages,
        portal_account,
        portal_kb,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.mount("/widget/static", StaticFiles(directory=Path(__file__).parent / "widget"), name="widget")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = f"/login?next={exc.next_url}"
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    def html_error(request: Request, exc: AppError) -> Response | None:
        if request.url.path == portal_common.PREFIX or request.url.path.startswith(
            portal_common.PREFIX + "/"
        ):
            return portal_common.error_page(request, exc)
        return error_page(request, exc) if wants_html_error(request) else None

    # kit.http's error handler asks this first, so API answers stay JSON and pages get a page.
    app.state.html_error_page = html_error


def wants_html_error(request: Request) -> bool:
    """A page a person opened in the browser, not an API call or an htmx swap."""
    return (
        not request.url.path.startswith("/api/")
        and not is_htmx(request)
        and "text/html" in request.headers.get("accept", "")
    )


def error_page(request: Request, exc: AppError) -> HTMLResponse:
    titles = {
        401: _("Please log in"),
        403: _("You may not open this"),
        404: _("Not found"),
        409: _("This cannot be done now"),
        422: _("Check what you entered"),
        429: _("Too many requests"),
    }
    html = env.get_template("ui/error.html").render(
        title=titles.get(exc.status_code, _("Something went wrong")),
        message=exc.message,
        status=exc.status_code,
    )
    return HTMLResponse(html, status_code=exc.status_code)
