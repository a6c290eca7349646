"""Canned-response use cases: the library each agent sees, its edits, and filling a template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.agents.models import Agent
from opora.auth.permissions import Principal
from opora.canned import repository
from opora.canned.models import CannedResponse, tag_index
from opora.canned.repository import CannedFilter
from opora.canned.schemas import CannedCreate, CannedOut, CannedUpdate
from opora.canned.variables import RenderContext, fold, search_text, values_for
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.kit import placeholders
from opora.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from opora.kit.pagination import decode_cursor, split_page
from opora.kit.time import utcnow
from opora.tickets.service import visible_ticket

SEARCH_LIMIT_MAX = 100


def can_see(principal: Principal, *, owner_id: int | None) -> bool:
    """Shared templates are everyone's; a personal one is its owner's alone, admins included."""
    return owner_id is None or owner_id == principal.agent_id


def can_edit(principal: Principal, *, owner_id: int | None) -> bool:
    if not principal.can_write:
        return False
    if owner_id is None:
        return principal.sees_all_tickets
    return owner_id == principal.agent_id


async def search(
    uow: UnitOfWork,
    principal: Principal,
    q: str | None,
    *,
    language: str | None = None,
    limit: int = 20,
) -> list[CannedResponse]:
    """The composer's picker: best matches of ``q`` among what the agent may use."""
    f = CannedFilter(viewer_id=principal.agent_id, q=fold(q) if q else None, language=language)
    return list(await repository.search(uow.session, f, limit=max(1, min(limit, SEARCH_LIMIT_MAX))))


async def list_canned(
    uow: UnitOfWork, principal: Principal, f: CannedFilter, *, limit: int, cursor: str | None
) -> tuple[list[CannedResponse], str | None]:
    f.viewer_id = principal.agent_id
    f.q = fold(f.q) if f.q else None
    after = None
    if cursor:
        raw_key, raw_id = decode_cursor(cursor, 2)
        if not isinstance(raw_key, str) or not isinstance(raw_id, int):
            raise InvalidInput("The cursor is not valid.", field="cursor")
        after = (raw_key, raw_id)
    found = await repository.list_canned(uow.session, f, limit=limit + 1, after=after)
    return split_page(found, limit, lambda row: (row.sort_key, row.id))


async def visible(uow: UnitOfWork, principal: Principal, canned_id: int) -> CannedResponse:
    canned = await repository.get(uow.session, canned_id)
    # Someone else's personal template does not exist as far as this agent can tell.
    if canned is None or not can_see(principal, owner_id=canned.owner_id):
        raise NotFound(f"Canned response {canned_id} does not exist.")
    return canned


def check_variables(text: str, field: str) -> None:
    unknown = placeholders.unknown_in(text)
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        raise InvalidInput(f"Unknown variables: {names}.", field=field, variables=unknown)


async def _check_shortcut(
    uow: UnitOfWork, shortcut: str | None, *, owner_id: int | None, except_id: int | None
) -> None:
    if shortcut and await repository.shortcut_taken(
        uow.session, shortcut, owner_id=owner_id, except_id=except_id
    ):
        where = "shared templates" if owner_id is None else "your templates"
        raise Conflict(f"The shortcut {shortcut!r} is already used by one of the {where}.", field="shortcut")


def _index(canned: CannedResponse) -> None:
    canned.sort_key = fold(canned.title)[:200]
    canned.search_text = search_text(
        title=canned.title, body=canned.body, shortcut=canned.shortcut, tags=canned.tags
    )
    canned.tag_index = tag_index(canned.tags)


def _shortcut(value: str | None) -> str | None:
    return value.removeprefix("/") if value else None


def _tags(tags: Sequence[str]) -> list[str]:
    return sorted({fold(tag) for tag in tags})


async def create(uow: UnitOfWork, principal: Principal, data: CannedCreate) -> CannedResponse:
    owner_id = None if data.shared else principal.agent_id
    if not can_edit(principal, owner_id=owner_id):
        raise Forbidden(
            "Only supervisors and admins may add shared templates."
            if principal.can_write
            else "This account is read-only."
        )
    check_variables(data.body, "body")
    shortcut = _shortcut(data.shortcut)
    await _check_shortcut(uow, shortcut, owner_id=owner_id, except_id=None)
    now = utcnow()
    canned = CannedResponse(
        title=data.title,
        body=data.body,
        shortcut=shortcut,
        language=data.language,
        tags=_tags(data.tags),
        owner_id=owner_id,
        created_by=principal.agent_id,
        created_at=now,
        updated_at=now,
    )
    _index(canned)
    uow.session.add(canned)
    await uow.session.flush()
    return canned


async def update(uow: UnitOfWork, principal: Principal, canned_id: int, data: CannedUpdate) -> CannedResponse:
    canned = await visible(uow, principal, canned_id)
    if not can_edit(principal, owner_id=canned.owner_id):
        raise Forbidden("Only supervisors and admins may change shared templates.")
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for key in ("title", "body", "language", "tags", "shared"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    owner_id = canned.owner_id
    if "shared" in changes:
        owner_id = None if changes.pop("shared") else (canned.owner_id or principal.agent_id)
        if not can_edit(principal, owner_id=owner_id):
            raise Forbidden("Only supervisors and admins may share templates.")
    if "body" in changes:
        check_variables(changes["body"], "body")
    if "shortcut" in changes:
        changes["shortcut"] = _shortcut(changes["shortcut"])
    if "tags" in changes:
        changes["tags"] = _tags(changes["tags"])
    await _check_shortcut(
        uow, changes.get("shortcut", canned.shortcut), owner_id=owner_id, except_id=canned.id
    )
    for key, value in changes.items():
        setattr(canned, key, value)
    canned.owner_id = owner_id
    canned.updated_at = utcnow()
    _index(canned)
    await uow.session.flush()
    return canned


async def delete(uow: UnitOfWork, principal: Principal, canned_id: int) -> None:
    canned = await visible(uow, principal, canned_id)
    if not can_edit(principal, owner_id=canned.owner_id):
        raise Forbidden("Only supervisors and admins may delete shared templates.")
    await repository.delete(uow.session, canned)


async def render_for(uow: UnitOfWork, principal: Principal, canned_id: int, ticket_id: int) -> str:
    """The template's body filled in for ``ticket_id``, as the calling agent would send it."""
    canned = await visible(uow, principal, canned_id)
    ticket = await visible_ticket(uow, principal, ticket_id)
    customer = await uow.session.get(Customer, ticket.customer_id)
    agent = await uow.session.get(Agent, principal.agent_id)
    order_number = ticket.custom_fields.get("order_number")
    context = RenderContext(
        ticket_number=ticket.id,
        ticket_subject=ticket.subject,
        ticket_status=ticket.status,
        customer_name=customer.name if customer else None,
        customer_email=await repository.first_email(uow.session, ticket.customer_id),
        agent_name=agent.name if agent else "",
        order_number=None if order_number is None else str(order_number),
    )
    return placeholders.render(canned.body, values_for(context))


def canned_out(rows: Sequence[CannedResponse]) -> list[CannedOut]:
    return [
        CannedOut.model_validate(
            {**row.columns(), "shared": row.shared, "variables": placeholders.names_in(row.body)}
        )
        for row in rows
    ]
