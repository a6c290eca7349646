"""The customer's profile: lifetime figures, notes, the cross-channel timeline, suggested merges."""

from __future__ import annotations

from collections.abc import Sequence

from opora.auth.permissions import Principal, can_see_ticket
from opora.customers import figures, repository
from opora.customers import suggestions as rules
from opora.customers.models import Customer, CustomerNote
from opora.customers.schemas import (
    LifetimeOut,
    NoteOut,
    ProfileOut,
    SuggestionOut,
    TimelineItem,
    TimelineOut,
)
from opora.customers.service import customer_out, get_customer, resolve_customer
from opora.db import UnitOfWork
from opora.kit.errors import Forbidden, InvalidInput, NotFound
from opora.shop.money import from_minor

TIMELINE_LIMIT = 200


async def lifetime(uow: UnitOfWork, customer: Customer) -> LifetimeOut:
    """Tickets counted now (exact however a ticket was written); the rest as stored for rules."""
    tickets, open_tickets = await repository.ticket_counts(uow.session, customer.id)
    found = figures.of(customer)
    return LifetimeOut(
        tickets=tickets,
        open_tickets=open_tickets,
        orders=found.orders,
        spend=found.spend,
        currency=found.currency,
        last_order_at=customer.last_order_at,
        csat_average=found.csat_average,
        csat_responses=found.csat_responses,
    )


async def profile(uow: UnitOfWork, customer_id: int) -> ProfileOut:
    customer = await get_customer(uow, customer_id)
    notes = await repository.notes_of(uow.session, customer.id)
    return ProfileOut(
        customer=(await customer_out(uow, [customer]))[0],
        lifetime=await lifetime(uow, customer),
        notes=[NoteOut.model_validate(n) for n in notes],
    )


async def timeline(uow: UnitOfWork, principal: Principal, customer_id: int) -> TimelineOut:
    """Tickets from every channel and orders, newest first; other teams' tickets only counted."""
    customer = await resolve_customer(uow, customer_id)
    tickets = await repository.customer_tickets(uow.session, customer.id, limit=TIMELINE_LIMIT)
    orders = await repository.customer_orders(uow.session, customer.id, limit=TIMELINE_LIMIT)
    items: list[TimelineItem] = []
    hidden = 0
    for t in tickets:
        if not can_see_ticket(principal, team_id=t.team_id, assignee_id=t.assignee_id):
            hidden += 1
            continue
        items.append(
            TimelineItem(
                kind="ticket",
                at=t.created_at,
                ticket_id=t.id,
                title=t.subject,
                status=t.status,
                channel_type=t.channel_type,
            )
        )
    items.extend(
        TimelineItem(
            kind="order",
            at=o.placed_at,
            order_id=o.id,
            title=o.number,
            status=o.status,
            total=from_minor(o.total_minor, o.currency),
            currency=o.currency,
        )
        for o in orders
    )
    items.sort(key=lambda item: (item.at, item.kind), reverse=True)
    return TimelineOut(items=items, hidden_tickets=hidden)


async def add_note(uow: UnitOfWork, principal: Principal, customer_id: int, text: str) -> CustomerNote:
    customer = await resolve_customer(uow, customer_id)
    note = CustomerNote(customer_id=customer.id, author_agent_id=principal.agent_id, text=text)
    await repository.add_note(uow.session, note)
    return note


async def delete_note(uow: UnitOfWork, principal: Principal, customer_id: int, note_id: int) -> None:
    note = await repository.get_note(uow.session, note_id)
    if note is None or note.customer_id != customer_id:
        raise NotFound(f"Customer {customer_id} has no note {note_id}.")
    if note.author_agent_id != principal.agent_id and not principal.sees_all_tickets:
        raise Forbidden("Only the author or a supervisor may delete a note.")
    await repository.delete_note(uow.session, note)


async def _person(uow: UnitOfWork, customers: Sequence[Customer]) -> list[rules.Person]:
    identities = await repository.identities_by_customer(uow.session, [c.id for c in customers])
    return [
        rules.Person(c.id, c.name, tuple((i.kind, i.value) for i in identities.get(c.id, [])))
        for c in customers
    ]


async def suggestions(uow: UnitOfWork, customer_id: int) -> list[SuggestionOut]:
    customer = await get_customer(uow, customer_id)
    if customer.merged_into_id is not None:
        return []
    me = (await _person(uow, [customer]))[0]
    phones = sorted({d for k, v in me.identities if (d := rules.phone_digits(k, v))})
    locals_ = sorted({local for k, v in me.identities if (local := rules.email_local(k, v))})
    found = await repository.identities_like(
        uow.session,
        kinds=repository.PHONE_LIKE_KINDS,
        patterns=[f"%{d}" for d in phones],
        exclude_customer=customer.id,
    )
    found = [
        *found,
        *await repository.identities_like(
            uow.session,
            kinds=("email",),
            patterns=[f"{_escape_like(p)}@%" for p in locals_],
            exclude_customer=customer.id,
        ),
    ]
    candidates = [
        c
        for c in await repository.customers_by_ids(uow.session, sorted({i.customer_id for i in found}))
        if c.merged_into_id is None and c.erased_at is None
    ]
    dismissed = await repository.dismissed_with(uow.session, customer.id)
    ranked = rules.suggest(me, await _person(uow, candidates), sorted(dismissed))
    by_id = {c.id: c for c in candidates}
    outs = await customer_out(uow, [by_id[p.id] for p, _ in ranked])
    return [SuggestionOut(customer=out, reasons=why) for out, (_, why) in zip(outs, ranked, strict=True)]


def _escape_like(value: str) -> str:
    # Local parts may hold "_" or "%", which LIKE would treat as wildcards; such rare parts are skipped.
    return value if "%" not in value and "_" not in value else "\x00"


async def dismiss(uow: UnitOfWork, principal: Principal, customer_id: int, other_id: int) -> bool:
    if customer_id == other_id:
        raise InvalidInput("A customer cannot be dismissed as its own duplicate.", field="other_customer_id")
    await get_customer(uow, customer_id)
    await get_customer(uow, other_id, field="other_customer_id")
    low, high = sorted((customer_id, other_id))
    return await repository.add_dismissal(uow.session, low, high, principal.agent_id)
