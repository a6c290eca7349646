"""The widget's endpoints under /widget/v1: a session over HTTP, live chat over a WebSocket,
uploads over HTTP, and files by capability URL.

Calls come from shops' pages on other origins, without cookies: JSON travels as text/plain (a
"simple" request, no preflight) and answers, errors included, carry
``Access-Control-Allow-Origin``. The visitor's token is the only credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from opora.auth.deps import RuntimeDep, Uow
from opora.channels.webchat import handoff, history, messages, receipts, sessions, suggestions, uploads
from opora.channels.webchat.hub import Hub, Socket
from opora.channels.webchat.schemas import MessageIn, SessionIn
from opora.channels.webchat.sessions import VisitorRef
from opora.channels.webchat.uploads import Upload
from opora.kit.errors import AppError, Forbidden, InvalidInput
from opora.kit.http import content_disposition
from opora.runtime import Runtime

log = logging.getLogger(__name__)

router = APIRouter(prefix="/widget/v1", tags=["widget"], include_in_schema=False)

CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
HELLO_SECONDS = 10.0
MAX_FRAME_CHARS = 20_000
M = TypeVar("M", bound=BaseModel)


def _error(exc: AppError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code, headers=CORS)


def _parse(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidInput(f"{field}: {first.get('msg', 'invalid')}", field=field) from exc


async def _guard(work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await work()
    except AppError as exc:
        # Answered here rather than by the app's handler so that the shop's page can read it.
        return _error(exc)


@router.post("/session")
async def open_session(request: Request, uow: Uow, runtime: RuntimeDep) -> Response:
    """The visitor's token (new for a new browser), the widget's look, offline state, history."""

    async def work() -> Response:
        try:
            raw = json.loads(await request.body())
        except ValueError as exc:
            raise InvalidInput("The body must be JSON.") from exc
        data = _parse(SessionIn, raw)
        channel = await sessions.channel_by_key(uow, data.channel)
        if not sessions.origin_allowed(channel, request.headers.get("origin")):
            raise Forbidden("This page's origin may not use this chat channel.")
        out = await sessions.open_session(uow, runtime, channel, data)
        return JSONResponse(out.model_dump(mode="json"), headers=CORS)

    return await _guard(work)


@router.post("/upload")
async def upload(
    request: Request,
    uow: Uow,
    runtime: RuntimeDep,
    channel: Annotated[str, Form(max_length=64)],
    token: Annotated[str, Form(max_length=100)],
    client_id: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
    text: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """A file (with optional text) as one visitor message; same idempotency as a chat message."""

    async def work() -> Response:
        found = await sessions.channel_by_key(uow, channel)
        if not sessions.origin_allowed(found, request.headers.get("origin")):
            raise Forbidden("This page's origin may not use this chat channel.")
        visitor = sessions.ref_of(await sessions.visitor_for(uow, found, token))
        limit = sessions.public_settings(found, "ru")["upload_max_bytes"]
        data = await file.read(limit + 1)
        checked = uploads.check_upload(found, Upload(file.filename or "file", file.content_type or "", data))
        message = _parse(MessageIn, {"client_id": client_id, "text": text})
        ack = await messages.post_message(uow, found, visitor, message, [checked], runtime=runtime)
        return JSONResponse(ack.model_dump(mode="json"), headers=CORS)

    return await _guard(work)


@router.get("/suggest")
async def suggest(
    request: Request,
    uow: Uow,
    runtime: RuntimeDep,
    channel: Annotated[str, Query(max_length=64)],
    q: Annotated[str, Query(max_length=200)] = "",
    language: Annotated[str | None, Query(pattern=r"^(ru|en)$")] = None,
) -> Response:
    """Knowledge-base articles for what the visitor is typing, as links (nothing is logged)."""

    async def work() -> Response:
        found = await sessions.channel_by_key(uow, channel)
        if not sessions.origin_allowed(found, request.headers.get("origin")):
            raise Forbidden("This page's origin may not use this chat channel.")
        out = await suggestions.suggestions(uow, runtime, q, language)
        return JSONResponse(out.model_dump(mode="json"), headers=CORS)

    return await _guard(work)


@router.get("/files/{attachment_id}/{sha256}")
async def download(attachment_id: int, sha256: str, uow: Uow, runtime: RuntimeDep) -> Response:
    async def work() -> Response:
        attachment = await uploads.visitor_file(uow, attachment_id, sha256)
        data = await asyncio.to_thread(runtime.storage.get, attachment.sha256)
        image = attachment.content_type.startswith("image/") and attachment.content_type != "image/svg+xml"
        headers = {
            **CORS,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=86400, immutable",
        }
        if not image:
            headers["Content-Disposition"] = content_disposition(attachment.filename)
        return Response(
            data, media_type=attachment.content_type if image else "application/octet-stream", headers=headers
        )

    return await _guard(work)


def hub_of(websocket: WebSocket, runtime: Runtime) -> Hub:
    state = websocket.app.state
    hub: Hub | None = getattr(state, "webchat_hub", None)
    if hub is None:
        hub = state.webchat_hub = Hub(runtime)
    return hub


@router.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    """Frames are JSON objects with a ``type``. The first one from the browser is ``hello``
    (channel, token, after_id); see docs/channel-webchat.md for the rest."""
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        hello = await asyncio.wait_for(websocket.receive_json(), HELLO_SECONDS)
        visitor = await _hello(runtime, websocket, hello)
    except (TimeoutError, WebSocketDisconnect, ValueError, KeyError, TypeError, AppError) as exc:
        reason = exc.message if isinstance(exc, AppError) else "send hello first"
        with contextlib.suppress(Exception):
            await websocket.send_json({"type": "error", "code": "hello", "message": reason})
            await websocket.close(code=4401)
        return
    hub = hub_of(websocket, runtime)
    socket = Socket(visitor, websocket.send_json, websocket.close)
    await hub.join(socket)
    writer = asyncio.create_task(socket.write_forever(), name="webchat-writer")
    try:
        # Subscribed first; the visitor's tickets and history second. A reply committed in
        # between arrives twice at worst (the widget drops a message id it already shows), never
        # zero times; and a ticket a second tab opened meanwhile is routed to this socket too.
        async with runtime.db.reader() as uow:
            channel = await sessions.channel_by_key(uow, str(hello["channel"]))
            tickets = await history.visitor_tickets(uow, channel.id, visitor.key)
            hub.bind(visitor.key, tickets)
            shown = await history.history(
                uow, channel, visitor.key, after_id=int(hello.get("after_id") or 0), ticket_ids=list(tickets)
            )
            offline = await sessions.offline_reason(uow, channel)
        socket.push(
            {"type": "ready", "offline": offline, "messages": [m.model_dump(mode="json") for m in shown]}
        )
        await _serve(runtime, hub, socket, websocket, str(hello["channel"]))
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("webchat socket failed")
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
        await hub.leave(socket)


async def _hello(runtime: Runtime, websocket: WebSocket, hello: Any) -> VisitorRef:
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        raise ValueError("hello expected")
    async with runtime.db.reader() as uow:
        channel = await sessions.channel_by_key(uow, str(hello["channel"]))
        if not sessions.origin_allowed(channel, websocket.headers.get("origin")):
            raise Forbidden("This page's origin may not use this chat channel.")
        return sessions.ref_of(await sessions.visitor_for(uow, channel, str(hello["token"])))


async def _serve(runtime: Runtime, hub: Hub, socket: Socket, websocket: WebSocket, channel_key: str) -> None:
    visitor = socket.visitor
    while True:
        raw = await websocket.receive_text()
        if len(raw) > MAX_FRAME_CHARS:
            socket.push({"type": "error", "code": "too_large", "message": "Frame too large."})
            continue
        try:
            frame = json.loads(raw)
            kind = frame.get("type") if isinstance(frame, dict) else None
        except ValueError:
            kind = None
        try:
            if kind == "message":
                data = _parse(MessageIn, {k: v for k, v in frame.items() if k != "type"})
                async with runtime.db.uow() as uow:
                    channel = await sessions.channel_by_key(uow, channel_key)
                    ack = await messages.post_message(uow, channel, visitor, data, runtime=runtime)
                # Only now, after the commit: an acknowledged message is never lost.
                socket.push({"type": "ack", **ack.model_dump(mode="json")})
            elif kind == "typing":
                await hub.visitor_typing(visitor)
            elif kind == "read":
                if "message_ids" in frame:
                    read = receipts.read_ids(frame["message_ids"])
                else:
                    # A widget script cached from before receipts named their ids.
                    read = socket.shown_up_to(int(frame.get("up_to") or 0))
                if read:
                    async with runtime.db.uow() as uow:
                        await receipts.mark_read(uow, visitor.channel_id, visitor.key, read)
            elif kind == "human":
                async with runtime.db.uow() as uow:
                    ticket_id = await handoff.request_human(uow, visitor.channel_id, visitor.key)
                socket.push({"type": "human", "ticket_id": ticket_id})
            elif kind == "ping":
                socket.push({"type": "pong"})
            else:
                socket.push({"type": "error", "code": "unknown", "message": "Unknown frame type."})
        except AppError as exc:
            client_id = frame.get("client_id") if isinstance(frame, dict) else None
            socket.push({"type": "error", "client_id": client_id, **exc.to_dict()})
        except (ValueError, TypeError):
            socket.push({"type": "error", "code": "invalid", "message": "Malformed frame."})
