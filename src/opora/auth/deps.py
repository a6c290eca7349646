"""FastAPI dependencies: the request's unit of work and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opora.auth import service
from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.kit.errors import Forbidden, Unauthenticated
from opora.kit.http import request_uow
from opora.runtime import Runtime

SESSION_COOKIE = "opora_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_uow(request: Request) -> UnitOfWork:
    return request_uow(request)


Uow = Annotated[UnitOfWork, Depends(get_uow)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_principal(request: Request, uow: Uow) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
        return (await service.authenticate_token(uow, value.strip())).principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("Log in or send an API token.")
    auth = await service.authenticate_session(uow, cookie)
    # Cookies ride along on cross-site requests; a token only our pages know proves intent.
    if request.method not in SAFE_METHODS:
        form_token = None
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form_token = (await request.form()).get("csrf_token")
        given = request.headers.get(CSRF_HEADER) or (form_token if isinstance(form_token, str) else None)
        service.check_csrf(auth.csrf_token, given)
    return auth.principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def writer(principal: CurrentPrincipal) -> Principal:
    if not principal.can_write:
        raise Forbidden("This account is read-only.")
    return principal


async def admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Only admins may do this.")
    return principal


async def supervisor(principal: CurrentPrincipal) -> Principal:
    if not principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins may do this.")
    return principal


Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
Supervisor = Annotated[Principal, Depends(supervisor)]
