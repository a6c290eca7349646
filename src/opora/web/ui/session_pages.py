"""Login, logout, and the language of the pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth import service as auth_service
from opora.auth.deps import SESSION_COOKIE, RuntimeDep, Uow
from opora.kit.errors import RateLimited, Unauthenticated
from opora.web import i18n
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.deps import LoginRequired, ViewerDep, viewer

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect after login would help phishing."""
    if not value:
        return "/inbox"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/inbox"
    return value


def page_language(request: Request) -> str:
    """Before login: the language chosen on the login page, else the browser's, else Russian."""
    return (
        i18n.normalise(request.cookies.get(i18n.LANGUAGE_COOKIE))
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.DEFAULT_LANGUAGE
    )


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    i18n.set_language(page_language(request))
    return render(request, "ui/login.html", {"next": safe_next(next), "error": None, "email": ""})


@router.post("/login")
async def login_submit(
    request: Request,
    runtime: RuntimeDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    i18n.set_language(page_language(request))
    client_ip = request.client.host if request.client else "unknown"
    try:
        opened = await auth_service.login(
            runtime.db, runtime.settings, email=email, password=password, client_ip=client_ip
        )
    except RateLimited:
        error = _("Too many failed attempts. Wait a few minutes and try again.")
        return render(
            request, "ui/login.html", {"next": next, "error": error, "email": email}, status_code=429
        )
    except Unauthenticated:
        error = _("Wrong e-mail or password.")
        return render(
            request, "ui/login.html", {"next": next, "error": error, "email": email}, status_code=401
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.cookie_value,
        max_age=runtime.settings.session_days * 86400,
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, uow: Uow, _viewer: ViewerDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    response = RedirectResponse("/login", status_code=303)
    if cookie:
        await auth_service.logout(uow, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def choose_language(
    request: Request,
    uow: Uow,
    language: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    """Remembered per agent when logged in, in a cookie on the login page."""
    chosen = i18n.normalise(language) or i18n.DEFAULT_LANGUAGE
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.LANGUAGE_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
    if request.cookies.get(SESSION_COOKIE):
        try:
            page_viewer = await viewer(request, uow)
        except LoginRequired:
            return response
        page_viewer.agent.language = chosen
    return response
