"""Who is looking at a page: the session behind the cookie, its CSRF token and the agent's language.

Pages authenticate by the session cookie only (API tokens are for programs). A missing or expired
session sends a browser to the login page, and an htmx request is told to go there too
(``HX-Redirect``) instead of swapping a login form into the middle of the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from opora.agents import service as agents_service
from opora.agents.models import Agent
from opora.auth import service as auth_service
from opora.auth.deps import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, Uow
from opora.auth.permissions import Principal
from opora.kit.errors import Forbidden, Unauthenticated
from opora.web import i18n


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    agent: Agent
    csrf_token: str

    @property
    def language(self) -> str:
        return self.agent.language if self.agent.language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


async def viewer(request: Request, uow: Uow) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired(_next_url(request))
    try:
        auth = await auth_service.authenticate_session(uow, cookie)
    except Unauthenticated as exc:
        raise LoginRequired(_next_url(request)) from exc
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and _is_form(request):
            field = (await request.form()).get("csrf_token")
            given = field if isinstance(field, str) else None
        auth_service.check_csrf(auth.csrf_token, given)
    assert auth.csrf_token is not None  # a session always has one
    agent = await agents_service.get_agent(uow, auth.principal.agent_id)
    page_viewer = Viewer(auth.principal, agent, auth.csrf_token)
    i18n.set_language(page_viewer.language)
    return page_viewer


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _next_url(request: Request) -> str:
    if request.method != "GET" or request.headers.get("hx-request") == "true":
        return "/inbox"
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return quote(path, safe="/?=&")


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def writer_viewer(page_viewer: ViewerDep) -> Viewer:
    if not page_viewer.principal.can_write:
        raise Forbidden("This account is read-only.")
    return page_viewer


async def admin_viewer(page_viewer: ViewerDep) -> Viewer:
    if not page_viewer.principal.is_admin:
        raise Forbidden("Only admins may do this.")
    return page_viewer


WriterViewer = Annotated[Viewer, Depends(writer_viewer)]
AdminViewer = Annotated[Viewer, Depends(admin_viewer)]
