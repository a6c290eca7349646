"""The inbox: views, filters, counts, keyset pages, and bulk actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth.deps import Uow
from opora.auth.permissions import Principal
from opora.kit.errors import InvalidInput
from opora.tickets import repository as tickets_repo
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.repository import TicketFilter
from opora.tickets.schemas import TicketUpdate
from opora.web.i18n import gettext as _
from opora.web.templating import is_htmx, render
from opora.web.ui import repository, sla_view
from opora.web.ui.deps import ViewerDep, WriterViewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SLA_VIEW_LIMIT = 200
ACTIVE = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]
VIEWS = ("mine", "unassigned", "teams", "all", "sla")


def view_names() -> dict[str, str]:
    return {
        "mine": _("Mine"),
        "unassigned": _("Unassigned"),
        "teams": _("My teams"),
        "all": _("All"),
        "sla": _("SLA at risk"),
    }


@dataclass
class Filters:
    view: str = "mine"
    status: str = "active"  # "active", "any" or one status
    channel: str = ""
    tag: str = ""
    q: str = ""
    sort: str = "updated"  # "updated" (latest activity first) or "oldest"

    def query(self, **changes: str) -> str:
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v})


def build_filter(principal: Principal, filters: Filters) -> TicketFilter:
    f = TicketFilter()
    if filters.status == "active":
        f.statuses = [s.value for s in ACTIVE]
    elif filters.status != "any":
        f.statuses = [Status(filters.status).value]
    if filters.view == "mine":
        f.assignee_id = principal.agent_id
    elif filters.view == "unassigned":
        f.unassigned = True
    elif filters.view == "teams":
        f.team_ids = principal.team_ids
    f.channel_type = filters.channel or None
    f.tag = filters.tag or None
    f.text = filters.q.strip() or None
    if filters.view == "sla":
        f.extra_conditions = [sla_view.at_risk_condition()]
    return tickets_service.visibility_filter(principal, f)


def parse_filters(view: str, status: str, channel: str, tag: str, q: str, sort: str) -> Filters:
    if view not in VIEWS:
        raise InvalidInput(f"Unknown view {view!r}.", field="view")
    if status not in ("active", "any") and status not in {s.value for s in Status}:
        raise InvalidInput(f"Unknown status {status!r}.", field="status")
    if sort not in ("updated", "oldest"):
        raise InvalidInput(f"Unknown sort {sort!r}.", field="sort")
    return Filters(view=view, status=status, channel=channel.strip(), tag=tag.strip(), q=q.strip(), sort=sort)


async def ticket_rows(uow: Uow, tickets: list[Any]) -> dict[str, Any]:
    """Everything the rows show, in one query per kind of thing, whatever the number of rows."""
    ids = [t.id for t in tickets]
    return {
        "customers": await repository.customers_by_id(uow.session, [t.customer_id for t in tickets]),
        "tags": await tickets_repo.tags_of(uow.session, ids),
        "last_messages": await tickets_repo.latest_public_messages(uow.session, ids),
        "sla": await sla_view.badges(uow.session, ids),
    }


@router.get("/inbox")
async def inbox(
    request: Request,
    uow: Uow,
    viewer: ViewerDep,
    view: Annotated[str, Query(max_length=20)] = "mine",
    status: Annotated[str, Query(max_length=20)] = "active",
    channel: Annotated[str, Query(max_length=30)] = "",
    tag: Annotated[str, Query(max_length=50)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(max_length=10)] = "updated",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = parse_filters(view, status, channel, tag, q, sort)
    ticket_filter = build_filter(viewer.principal, filters)
    if filters.view == "sla":
        # A short list by its nature; most urgent first, no further pages.
        tickets = await sla_view.most_urgent(uow.session, ticket_filter, limit=SLA_VIEW_LIMIT)
        next_cursor = None
    else:
        tickets, next_cursor = await tickets_service.list_tickets(
            uow,
            viewer.principal,
            ticket_filter,
            limit=PAGE_SIZE,
            cursor=cursor,
            oldest_first=filters.sort == "oldest",
        )
    context: dict[str, Any] = {
        "viewer": viewer,
        "section": "inbox",
        "filters": filters,
        "views": view_names(),
        "tickets": tickets,
        "next_cursor": next_cursor,
        "directory": await repository.directory(uow.session),
        "statuses": [s.value for s in Status],
        **await ticket_rows(uow, tickets),
    }
    if is_htmx(request):
        # A further page appends rows; a live refresh replaces the list.
        block = "rows" if cursor else "ticket_list"
        return render(request, "ui/inbox.html", context, block=block)
    return render(request, "ui/inbox.html", context)


@router.get("/inbox/counts")
async def counts(request: Request, uow: Uow, viewer: ViewerDep) -> Response:
    """Open work per view; loaded after the page so that the list itself is not held up."""
    numbers = {}
    for name in VIEWS:
        f = build_filter(viewer.principal, Filters(view=name))
        numbers[name] = await tickets_repo.count_tickets(uow.session, f)
    return render(request, "ui/inbox.html", {"viewer": viewer, "counts": numbers}, block="counts_data")


@router.post("/inbox/bulk")
async def bulk(
    request: Request,
    uow: Uow,
    viewer: WriterViewer,
    action: Annotated[str, Form(max_length=20)],
    ticket_ids: Annotated[list[int], Form()],
    value: Annotated[str, Form(max_length=100)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    """Assign, set status, tag or merge many tickets at once; all or nothing."""
    if not ticket_ids:
        raise InvalidInput("Select at least one ticket.", field="ticket_ids")
    if len(ticket_ids) > 200:
        raise InvalidInput("At most 200 tickets at once.", field="ticket_ids")
    principal = viewer.principal
    if action == "merge":
        target, *sources = sorted(set(ticket_ids))
        if not sources:
            raise InvalidInput("Select at least two tickets to merge.", field="ticket_ids")
        for source in sources:
            await tickets_service.merge_tickets(uow, principal, source, target)
    elif action == "tag":
        current = await tickets_repo.tags_of(uow.session, ticket_ids)
        for ticket_id in ticket_ids:
            tags = sorted({*current.get(ticket_id, []), value.strip()})
            await tickets_service.update_ticket(uow, principal, ticket_id, TicketUpdate(tags=tags))
    else:
        update = _bulk_update(action, value, principal)
        for ticket_id in ticket_ids:
            await tickets_service.update_ticket(uow, principal, ticket_id, update)
    target_url = back if back.startswith("/inbox") else "/inbox"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return RedirectResponse(target_url, status_code=303)


def _bulk_update(action: str, value: str, principal: Principal) -> TicketUpdate:
    if action == "assign":
        if value == "me":
            return TicketUpdate(assignee_id=principal.agent_id)
        if value == "none":
            return TicketUpdate(assignee_id=None)
        if not value.isdigit():
            raise InvalidInput("Choose an agent.", field="value")
        return TicketUpdate(assignee_id=int(value))
    if action == "status":
        if value not in {s.value for s in Status}:
            raise InvalidInput("Choose a status.", field="value")
        return TicketUpdate(status=Status(value))
    raise InvalidInput(f"Unknown bulk action {action!r}.", field="action")
