"""The ticket page: timeline, composer, fields, customer panel and history."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from opora.auth.deps import RuntimeDep, Uow
from opora.customers import service as customers_service
from opora.customers.schemas import CustomerUpdate
from opora.kit.errors import InvalidInput, NotFound
from opora.privacy import access as privacy_access
from opora.shop import service as shop_service
from opora.surveys import service as surveys_service
from opora.tickets import repository as tickets_repo
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import Message, Priority
from opora.tickets.schemas import MessageIn, TicketUpdate
from opora.tickets.service import Upload
from opora.web.templating import env, is_htmx, render
from opora.web.ui import repository, sla_view
from opora.web.ui.deps import ViewerDep, WriterViewer

router = APIRouter(include_in_schema=False)
M = TypeVar("M", bound=BaseModel)

HISTORY_LIMIT = 200

# The frame of an e-mail's HTML: no script, no remote content, no forms, links open outside.
FRAME_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


async def _context(uow: Uow, viewer: Any, ticket_id: int) -> dict[str, Any]:
    ticket = await tickets_service.visible_ticket(uow, viewer.principal, ticket_id)
    session = uow.session
    include_internal = True  # every agent who sees the ticket sees its notes
    messages = await repository.timeline_messages(session, ticket.id, include_internal=include_internal)
    customer = await customers_service.get_customer(uow, ticket.customer_id)
    # Opening a ticket shows the customer's personal data: 152-FZ wants a record of who saw it.
    await privacy_access.log_access(
        uow, agent_id=viewer.principal.agent_id, customer_id=customer.id, what="ticket_page"
    )
    return {
        "viewer": viewer,
        "section": "inbox",
        "ticket": ticket,
        "messages": messages,
        "files": await tickets_repo.attachments_of(session, [m.id for m in messages]),
        "tags": (await tickets_repo.tags_of(session, [ticket.id]))[ticket.id],
        "customer": customer,
        "identities": await repository.identities_of(session, customer.id),
        "other_tickets": await repository.other_tickets(session, customer.id, ticket.id),
        "events": await tickets_repo.list_events(session, ticket.id, limit=HISTORY_LIMIT, after_id=None),
        "directory": await repository.directory(session),
        "badge": (await sla_view.badges(session, [ticket.id])).get(ticket.id),
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "orders": await shop_service.orders_for_ticket_page(uow, customer.id),
        "csat": await surveys_service.for_ticket(uow, viewer.principal, ticket.id),
    }


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: int, uow: Uow, viewer: ViewerDep) -> Response:
    context = await _context(uow, viewer, ticket_id)
    return render(request, "ui/ticket.html", context)


@router.get("/tickets/{ticket_id}/parts/{part}")
async def ticket_part(request: Request, ticket_id: int, part: str, uow: Uow, viewer: ViewerDep) -> Response:
    """One region of the page, re-rendered after a live update or a change."""
    if part not in ("head", "timeline", "side"):
        raise NotFound(f"No part {part!r}.")
    context = await _context(uow, viewer, ticket_id)
    return render(request, "ui/ticket.html", context, block=part)


@router.get("/ui/messages/{message_id}/frame")
async def message_frame(message_id: int, uow: Uow, viewer: ViewerDep) -> Response:
    """The stored (already sanitised) HTML of one e-mail, as its own document for a sandboxed frame."""
    message = await uow.session.get(Message, message_id)
    if message is None or not message.html:
        raise NotFound(f"Message {message_id} has no HTML part.")
    await tickets_service.visible_ticket(uow, viewer.principal, message.ticket_id)
    document = env.get_template("ui/_mail_frame.html").render(html=message.html)
    return HTMLResponse(
        document,
        headers={
            "Content-Security-Policy": FRAME_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=300",
        },
    )


def validated(model: type[M], data: dict[str, Any]) -> M:
    """Form input through the API's schema; a refusal names the field like the API does."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or None
        raise InvalidInput(f"{field}: {first.get('msg', 'invalid')}", field=field) from exc


def _status_or_none(value: str) -> Status | None:
    if not value:
        return None
    if value not in {s.value for s in Status}:
        raise InvalidInput(f"Unknown status {value!r}.", field="status")
    return Status(value)


@router.post("/tickets/{ticket_id}/reply")
async def reply(
    request: Request,
    ticket_id: int,
    uow: Uow,
    viewer: WriterViewer,
    runtime: RuntimeDep,
    text: Annotated[str, Form(max_length=100_000)] = "",
    mode: Annotated[str, Form(max_length=10)] = "reply",
    status: Annotated[str, Form(max_length=20)] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    if mode not in ("reply", "note"):
        raise InvalidInput("Choose a reply or a note.", field="mode")
    if not text.strip():
        raise InvalidInput("Write something first.", field="text")
    data = validated(
        MessageIn, {"text": text.strip(), "internal": mode == "note", "status": _status_or_none(status)}
    )
    message = await tickets_service.add_message(uow, viewer.principal, ticket_id, data)
    uploads = []
    for upload in files or []:
        if not upload.filename:
            continue  # an empty file input still sends one nameless part
        content = await upload.read(runtime.settings.max_attachment_bytes + 1)
        uploads.append(Upload(upload.filename, upload.content_type or "", content))
    if uploads:
        await tickets_service.attach_uploads(uow, runtime.storage, message, uploads)
    if is_htmx(request):
        # The composer is cleared by the page; the timeline and fields reload.
        return Response(status_code=204, headers={"HX-Trigger": "opora:replied"})
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/fields")
async def update_fields(
    request: Request,
    ticket_id: int,
    uow: Uow,
    viewer: WriterViewer,
) -> Response:
    form = await request.form()
    changes: dict[str, Any] = {}
    ticket = await tickets_service.visible_ticket(uow, viewer.principal, ticket_id)
    for key in ("status", "priority", "topic", "subject"):
        raw = form.get(key)
        if isinstance(raw, str):
            value = raw.strip()
            if key == "topic":
                changes[key] = value or None
            elif value and value != getattr(ticket, key):
                changes[key] = value
    for key in ("team_id", "assignee_id"):
        raw = form.get(key)
        if isinstance(raw, str):
            value_id = int(raw) if raw.strip().isdigit() else None
            if raw.strip() and value_id is None:
                raise InvalidInput("Choose from the list.", field=key)
            if value_id != getattr(ticket, key):
                changes[key] = value_id
    raw_tags = form.get("tags")
    if isinstance(raw_tags, str):
        changes["tags"] = sorted({t.strip() for t in raw_tags.replace(";", ",").split(",") if t.strip()})
    field_key, field_value = form.get("field_key"), form.get("field_value")
    if isinstance(field_key, str) and field_key.strip():
        changes["custom_fields"] = {field_key.strip(): (field_value or "").strip() or None}  # type: ignore[union-attr]
    if changes.get("topic") == ticket.topic:
        changes.pop("topic")
    update = validated(TicketUpdate, changes)
    await tickets_service.update_ticket(uow, viewer.principal, ticket_id, update)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Trigger": "opora:fields-saved"})
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/assign-me")
async def assign_me(request: Request, ticket_id: int, uow: Uow, viewer: WriterViewer) -> Response:
    await tickets_service.update_ticket(
        uow, viewer.principal, ticket_id, TicketUpdate(assignee_id=viewer.principal.agent_id)
    )
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Trigger": "opora:fields-saved"})
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/customer-notes")
async def customer_notes(
    request: Request,
    ticket_id: int,
    uow: Uow,
    viewer: WriterViewer,
    notes: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    ticket = await tickets_service.visible_ticket(uow, viewer.principal, ticket_id)
    await customers_service.update_customer(
        uow, ticket.customer_id, CustomerUpdate(custom_fields={"notes": notes.strip() or None})
    )
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Trigger": "opora:fields-saved"})
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
