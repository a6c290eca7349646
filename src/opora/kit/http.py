"""HTTP plumbing shared by every router: the per-request unit of work and error bodies."""

from __future__ import annotations

import json
import logging
from typing import Any, cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opora.db import Database, UnitOfWork
from opora.kit.errors import AppError

log = logging.getLogger(__name__)

SCOPE_KEY = "opora.uow"


class _LazyUnitOfWork:
    """Opens a session only if the request touches the database."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._uow: UnitOfWork | None = None
        self.finished = False

    def get(self) -> UnitOfWork:
        if self.finished:
            raise RuntimeError("the request's unit of work is already finished")
        if self._uow is None:
            self._uow = self._database.uow()
        return self._uow

    async def commit(self) -> None:
        self.finished = True
        if self._uow is not None:
            await self._uow.commit()

    async def rollback(self) -> None:
        self.finished = True
        if self._uow is not None:
            await self._uow.rollback()


class UnitOfWorkMiddleware:
    """One request = one transaction, committed before the first byte of the answer leaves.

    A 4xx/5xx answer rolls back, so a refused call changes nothing. If the commit itself fails
    the client gets a 500 instead of a success that did not happen.
    """

    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder = _LazyUnitOfWork(self.database)
        scope[SCOPE_KEY] = holder
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and not holder.finished:
                if message["status"] < 400:
                    try:
                        await holder.commit()
                    except Exception:
                        log.exception("commit failed")
                        replaced = True
                        await _send_error(send, 500, "commit_failed", "The change could not be saved.")
                        return
                else:
                    await holder.rollback()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not holder.finished:
                await holder.rollback()


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_uow(request: Request) -> UnitOfWork:
    holder: _LazyUnitOfWork = request.scope[SCOPE_KEY]
    return holder.get()


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        html_page = getattr(request.app.state, "html_error_page", None)
        if html_page is not None and (page := html_page(request, exc)) is not None:
            return cast(Response, page)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": _field_name(tuple(err.get("loc", ()))),
                "reason": err.get("msg", ""),
                "type": err.get("type"),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_error", "The request is not valid.", fields=fields), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def content_disposition(filename: str) -> str:
    """An attachment header that survives any file name (RFC 6266 with an RFC 5987 UTF-8 form)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
