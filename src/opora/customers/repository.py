"""All SQL about customers and their identities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opora.customers.models import (
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerNote,
    CustomerTag,
    MergeDismissal,
    SegmentChange,
    SegmentRule,
)
from opora.kit.readcache import watch
from opora.kit.time import utcnow
from opora.shop.models import Order, OrderStatus
from opora.surveys.models import CsatSurvey
from opora.tickets.models import Message, Ticket


@dataclass(frozen=True)
class CustomerFilter:
    q: str | None = None
    identity: tuple[str, str] | None = None  # (kind, normalised value), exact
    updated_since: datetime | None = None
    include_merged: bool = False


@dataclass(frozen=True)
class MovedTicket:
    id: int
    team_id: int | None
    assignee_id: int | None


@dataclass(frozen=True)
class OpenTicket:
    id: int
    customer_id: int
    team_id: int | None
    assignee_id: int | None


async def get_customer(session: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer | None:
    if not lock:
        return await session.get(Customer, customer_id)
    # FOR UPDATE on PostgreSQL (SQLite already holds the database write lock); populate_existing
    # re-reads a row the session may have cached before the lock was taken.
    query = select(Customer).where(Customer.id == customer_id).with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def find_identity(session: AsyncSession, kind: str, value: str) -> CustomerIdentity | None:
    query = select(CustomerIdentity).where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
    return (await session.scalars(query)).first()


async def get_identity(session: AsyncSession, identity_id: int) -> CustomerIdentity | None:
    return await session.get(CustomerIdentity, identity_id)


async def count_identities(session: AsyncSession, customer_id: int) -> int:
    query = (
        select(func.count()).select_from(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
    )
    return int(await session.scalar(query) or 0)


async def identities_by_customer(
    session: AsyncSession, customer_ids: Sequence[int]
) -> dict[int, list[CustomerIdentity]]:
    result: dict[int, list[CustomerIdentity]] = {customer_id: [] for customer_id in customer_ids}
    if not customer_ids:
        return result
    rows = await session.scalars(
        select(CustomerIdentity)
        .where(CustomerIdentity.customer_id.in_(customer_ids))
        .order_by(CustomerIdentity.id)
    )
    for identity in rows:
        result[identity.customer_id].append(identity)
    return result


async def insert_customer(
    session: AsyncSession, customer: Customer, identities: Sequence[tuple[str, str]]
) -> None:
    """Insert a customer with its identities; IntegrityError if an identity is taken meanwhile."""
    session.add(customer)
    await session.flush()
    session.add_all([CustomerIdentity(customer_id=customer.id, kind=k, value=v) for k, v in identities])
    await session.flush()


async def insert_customer_unless_taken(
    session: AsyncSession, customer: Customer, kind: str, value: str
) -> bool:
    """Insert a customer owning (kind, value); False, and nothing inserted, if another has it.

    The unique (kind, value) constraint decides between concurrent callers. The savepoint undoes
    only this attempt, so the caller's transaction stays usable (PostgreSQL would otherwise abort
    it) and no customer without its identity is left behind.
    """
    try:
        async with session.begin_nested():
            await insert_customer(session, customer, [(kind, value)])
    except IntegrityError:
        return False
    return True


async def insert_identity(session: AsyncSession, customer_id: int, kind: str, value: str) -> CustomerIdentity:
    identity = CustomerIdentity(customer_id=customer_id, kind=kind, value=value)
    session.add(identity)
    await session.flush()
    return identity


async def delete_identity(session: AsyncSession, identity: CustomerIdentity) -> None:
    await session.delete(identity)
    await session.flush()


def _text_match(q: str) -> ColumnElement[bool]:
    # SQLite's LIKE and lower() fold ASCII only, so Cyrillic case variants are tried explicitly;
    # on PostgreSQL ILIKE handles them and the extra variants cost nothing.
    variants = {q, q.lower(), q.upper(), q.capitalize(), q.title()}
    digits = "".join(ch for ch in q if ch.isascii() and ch.isdigit())
    phone_like = len(digits) >= 4 and not any(ch.isalpha() for ch in q)
    name_match = or_(*(Customer.name.icontains(v, autoescape=True) for v in sorted(variants)))
    value_variants = {v.lower() for v in variants} | ({digits} if phone_like else set())
    identity_match = exists(
        select(CustomerIdentity.id).where(
            CustomerIdentity.customer_id == Customer.id,
            or_(*(CustomerIdentity.value.icontains(v, autoescape=True) for v in sorted(value_variants))),
        )
    )
    return or_(name_match, identity_match)


async def search_customers(
    session: AsyncSession, f: CustomerFilter, *, limit: int, after: tuple[datetime, int] | None
) -> Sequence[Customer]:
    """Most recently updated first; with ``updated_since``, oldest change first.

    The ascending order suits incremental sync: a client pages forward and remembers the last
    ``updated_at`` it saw. Substring search scans; full-text search belongs to the search module.
    """
    query = select(Customer)
    if not f.include_merged:
        query = query.where(Customer.merged_into_id.is_(None))
    if f.q:
        query = query.where(_text_match(f.q))
    if f.identity is not None:
        kind, value = f.identity
        query = query.where(
            exists(
                select(CustomerIdentity.id).where(
                    CustomerIdentity.customer_id == Customer.id,
                    CustomerIdentity.kind == kind,
                    CustomerIdentity.value == value,
                )
            )
        )
    if f.updated_since is not None:
        query = query.where(Customer.updated_at >= f.updated_since)
        if after is not None:
            query = query.where(_after(after, ascending=True))
        query = query.order_by(Customer.updated_at, Customer.id)
    else:
        if after is not None:
            query = query.where(_after(after, ascending=False))
        query = query.order_by(Customer.updated_at.desc(), Customer.id.desc())
    return (await session.scalars(query.limit(limit))).all()


def _after(after: tuple[datetime, int], *, ascending: bool) -> ColumnElement[bool]:
    # Spelled out rather than a row-value comparison, which older SQLite builds lack.
    updated_at, customer_id = after
    if ascending:
        return or_(
            Customer.updated_at > updated_at,
            and_(Customer.updated_at == updated_at, Customer.id > customer_id),
        )
    return or_(
        Customer.updated_at < updated_at,
        and_(Customer.updated_at == updated_at, Customer.id < customer_id),
    )


# -- merge bookkeeping ---------------------------------------------------------------------------


async def ids_where(session: AsyncSession, column: ColumnElement[int | None] | Any, value: int) -> list[int]:
    """Primary keys of the rows whose ``column`` equals ``value`` (the column's table's ``id``)."""
    table = column.table
    rows = await session.scalars(select(table.c.id).where(column == value).order_by(table.c.id))
    return list(rows.all())


async def moved_sets(session: AsyncSession, customer_id: int) -> dict[str, list[int]]:
    """Ids of everything that belongs to ``customer_id`` and moves with it in a merge."""
    return {
        "identities": await ids_where(session, CustomerIdentity.customer_id, customer_id),
        "tickets": await ids_where(session, Ticket.customer_id, customer_id),
        "messages": await ids_where(session, Message.author_customer_id, customer_id),
        "orders": await ids_where(session, Order.customer_id, customer_id),
        "notes": await ids_where(session, CustomerNote.customer_id, customer_id),
        "customers": await ids_where(session, Customer.merged_into_id, customer_id),
    }


async def move_rows(session: AsyncSession, moved: dict[str, list[int]], *, from_id: int, to_id: int) -> None:
    """Move exactly the listed rows, and only those still owned by ``from_id``.

    Unmerge calls this with the merge's recorded lists: a ticket created for the survivor after
    the merge stays with the survivor.
    """
    targets: list[tuple[str, Any, Any]] = [
        ("identities", CustomerIdentity, CustomerIdentity.customer_id),
        ("messages", Message, Message.author_customer_id),
        ("orders", Order, Order.customer_id),
        ("notes", CustomerNote, CustomerNote.customer_id),
        ("customers", Customer, Customer.merged_into_id),
    ]
    for key, model, column in targets:
        ids = moved.get(key) or []
        if ids:
            await session.execute(
                update(model).where(model.id.in_(ids), column == from_id).values({column.key: to_id})
            )
    ticket_ids = moved.get("tickets") or []
    if ticket_ids:
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ticket_ids), Ticket.customer_id == from_id)
            .values(customer_id=to_id, updated_at=utcnow())
        )


async def tickets_brief(
    session: AsyncSession, ticket_ids: Sequence[int], customer_id: int
) -> list[MovedTicket]:
    if not ticket_ids:
        return []
    rows = await session.execute(
        select(Ticket.id, Ticket.team_id, Ticket.assignee_id)
        .where(Ticket.id.in_(ticket_ids), Ticket.customer_id == customer_id)
        .order_by(Ticket.id)
    )
    return [MovedTicket(id=r.id, team_id=r.team_id, assignee_id=r.assignee_id) for r in rows]


async def add_merge_record(session: AsyncSession, record: CustomerMerge) -> None:
    session.add(record)
    await session.flush()


async def last_merge(session: AsyncSession, survivor_id: int, merged_id: int) -> CustomerMerge | None:
    query = (
        select(CustomerMerge)
        .where(
            CustomerMerge.survivor_id == survivor_id,
            CustomerMerge.merged_id == merged_id,
            CustomerMerge.undone_at.is_(None),
        )
        .order_by(CustomerMerge.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def merges_of(session: AsyncSession, customer_id: int) -> Sequence[CustomerMerge]:
    query = (
        select(CustomerMerge)
        .where(or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id))
        .order_by(CustomerMerge.id)
    )
    return (await session.scalars(query)).all()


# -- tags and notes -----------------------------------------------------------------------------


async def tags_by_customer(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {customer_id: [] for customer_id in customer_ids}
    if customer_ids:
        rows = await session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag)
            .where(CustomerTag.customer_id.in_(customer_ids))
            .order_by(CustomerTag.tag)
        )
        for customer_id, tag in rows:
            result[customer_id].append(tag)
    return result


async def set_tags(session: AsyncSession, customer_id: int, tags: Sequence[str]) -> None:
    await session.execute(delete(CustomerTag).where(CustomerTag.customer_id == customer_id))
    session.add_all([CustomerTag(customer_id=customer_id, tag=tag) for tag in tags])
    await session.flush()


async def add_tags(session: AsyncSession, customer_id: int, tags: Sequence[str]) -> None:
    session.add_all([CustomerTag(customer_id=customer_id, tag=tag) for tag in tags])
    await session.flush()


async def remove_tags(session: AsyncSession, customer_id: int, tags: Sequence[str]) -> None:
    if tags:
        await session.execute(
            delete(CustomerTag).where(CustomerTag.customer_id == customer_id, CustomerTag.tag.in_(tags))
        )


async def notes_of(session: AsyncSession, customer_id: int) -> Sequence[CustomerNote]:
    query = (
        select(CustomerNote).where(CustomerNote.customer_id == customer_id).order_by(CustomerNote.id.desc())
    )
    return (await session.scalars(query)).all()


async def add_note(session: AsyncSession, note: CustomerNote) -> None:
    session.add(note)
    await session.flush()


async def get_note(session: AsyncSession, note_id: int) -> CustomerNote | None:
    return await session.get(CustomerNote, note_id)


async def delete_note(session: AsyncSession, note: CustomerNote) -> None:
    await session.delete(note)
    await session.flush()


# -- lifetime figures ---------------------------------------------------------------------------

# Orders that did not end in a sale count as orders but not as spend.
NOT_SPENT = (OrderStatus.CANCELLED.value, OrderStatus.RETURNED.value)


async def customers_for_figures(session: AsyncSession, ids: Sequence[int], *, lock: bool) -> list[Customer]:
    """The customers, locked in id order on PostgreSQL: a second transaction adding a ticket for
    the same customer waits, then counts this one's ticket too (its count reads after the lock).

    FOR NO KEY UPDATE, not FOR UPDATE: inserting a ticket already took a KEY SHARE lock on the
    customer (the foreign key), and two transactions each holding that while asking for FOR UPDATE
    deadlock. NO KEY UPDATE does not conflict with KEY SHARE, and only figure columns change."""
    query = select(Customer).where(Customer.id.in_(sorted(set(ids)))).order_by(Customer.id)
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def compute_figures(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The lifetime figures of these customers counted from their rows, as Customer column values.

    Three grouped queries for any number of customers. Spend is summed in the currency most of
    the customer's orders use; orders in other currencies count as orders but are not converted
    (no exchange rates in the desk).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    spent = func.sum(case((Order.status.in_(NOT_SPENT), 0), else_=Order.total_minor))
    rows = await session.execute(
        select(Order.customer_id, Order.currency, func.count(), spent, func.max(Order.placed_at))
        .where(Order.customer_id.in_(ids))
        .group_by(Order.customer_id, Order.currency)
    )
    per: dict[int, list[tuple[str, int, int, datetime | None]]] = {customer_id: [] for customer_id in ids}
    for customer_id, currency, count, total, last in rows:
        per[customer_id].append((currency, int(count), int(total or 0), last))
    tickets = {
        customer_id: int(count)
        for customer_id, count in await session.execute(
            select(Ticket.customer_id, func.count())
            .where(Ticket.customer_id.in_(ids), Ticket.merged_into_id.is_(None))
            .group_by(Ticket.customer_id)
        )
    }
    ratings = {
        customer_id: (int(count), int(total or 0))
        for customer_id, count, total in await session.execute(
            select(CsatSurvey.customer_id, func.count(CsatSurvey.rating), func.sum(CsatSurvey.rating))
            .where(CsatSurvey.customer_id.in_(ids), CsatSurvey.rating.is_not(None))
            .group_by(CsatSurvey.customer_id)
        )
    }
    result: dict[int, dict[str, Any]] = {}
    for customer_id, groups in per.items():
        main = max(groups, key=lambda g: (g[1], g[0] == "RUB", g[0]), default=None)
        lasts = [g[3] for g in groups if g[3] is not None]
        csat_count, csat_total = ratings.get(customer_id, (0, 0))
        result[customer_id] = {
            "orders_count": sum(g[1] for g in groups),
            "total_spent_minor": main[2] if main else 0,
            "spend_currency": main[0] if main else None,
            "last_order_at": max(lasts) if lasts else None,
            "tickets_count": int(tickets.get(customer_id, 0)),
            "csat_count": csat_count,
            "csat_total": csat_total,
        }
    return result


async def open_tickets_of(session: AsyncSession, customer_ids: Sequence[int]) -> list[OpenTicket]:
    """Tickets not yet solved or closed of these customers (they hear of a segment change)."""
    if not customer_ids:
        return []
    rows = await session.execute(
        select(Ticket.id, Ticket.customer_id, Ticket.team_id, Ticket.assignee_id)
        .where(
            Ticket.customer_id.in_(sorted(set(customer_ids))),
            Ticket.merged_into_id.is_(None),
            Ticket.status.not_in(("solved", "closed")),
        )
        .order_by(Ticket.id)
    )
    return [OpenTicket(*row) for row in rows]


async def customer_ids_of_tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> list[int]:
    if not ticket_ids:
        return []
    rows = await session.scalars(
        select(Ticket.customer_id).where(Ticket.id.in_(sorted(set(ticket_ids)))).distinct()
    )
    return sorted(rows.all())


async def customer_ids_after(session: AsyncSession, after_id: int, *, limit: int) -> list[int]:
    """The next customers in id order that can hold a segment (not merged away)."""
    rows = await session.scalars(
        select(Customer.id)
        .where(Customer.id > after_id, Customer.merged_into_id.is_(None))
        .order_by(Customer.id)
        .limit(limit)
    )
    return list(rows.all())


# -- segment rules and their audit ---------------------------------------------------------------


# Every inbound message's customer figures apply the active segment rules (kit.readcache).
watch(SegmentRule.__tablename__)


async def list_segment_rules(session: AsyncSession, *, active_only: bool = False) -> Sequence[SegmentRule]:
    query = select(SegmentRule).order_by(SegmentRule.position, SegmentRule.id)
    if active_only:
        query = query.where(SegmentRule.is_active.is_(True))
    return (await session.scalars(query)).all()


async def get_segment_rule(session: AsyncSession, rule_id: int) -> SegmentRule | None:
    return await session.get(SegmentRule, rule_id)


async def next_segment_rule_position(session: AsyncSession) -> int:
    found = await session.scalar(select(func.max(SegmentRule.position)))
    return 0 if found is None else int(found) + 1


async def segment_changes(session: AsyncSession, customer_id: int, *, limit: int) -> Sequence[SegmentChange]:
    query = (
        select(SegmentChange)
        .where(SegmentChange.customer_id == customer_id)
        .order_by(SegmentChange.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def ticket_counts(session: AsyncSession, customer_id: int) -> tuple[int, int]:
    """(all tickets, tickets not yet solved or closed)."""
    open_case = case((Ticket.status.in_(("solved", "closed")), 0), else_=1)
    row = (
        await session.execute(
            select(func.count(), func.sum(open_case)).where(
                Ticket.customer_id == customer_id, Ticket.merged_into_id.is_(None)
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def customer_tickets(session: AsyncSession, customer_id: int, *, limit: int) -> Sequence[Ticket]:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def customer_orders(session: AsyncSession, customer_id: int, *, limit: int) -> Sequence[Order]:
    query = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


# -- suggested merges ---------------------------------------------------------------------------

PHONE_LIKE_KINDS = ("phone", "whatsapp", "viber")


async def identities_like(
    session: AsyncSession, *, kinds: Sequence[str], patterns: Sequence[str], exclude_customer: int
) -> Sequence[CustomerIdentity]:
    """Identities of other customers whose value matches one of the LIKE patterns."""
    if not patterns:
        return []
    query = select(CustomerIdentity).where(
        CustomerIdentity.kind.in_(kinds),
        CustomerIdentity.customer_id != exclude_customer,
        or_(*(CustomerIdentity.value.like(p) for p in patterns)),
    )
    return (await session.scalars(query.limit(200))).all()


async def customers_by_ids(session: AsyncSession, ids: Sequence[int]) -> Sequence[Customer]:
    if not ids:
        return []
    return (await session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))).all()


async def dismissed_with(session: AsyncSession, customer_id: int) -> set[int]:
    rows = await session.execute(
        select(MergeDismissal.low_id, MergeDismissal.high_id).where(
            or_(MergeDismissal.low_id == customer_id, MergeDismissal.high_id == customer_id)
        )
    )
    return {low if high == customer_id else high for low, high in rows}


async def add_dismissal(session: AsyncSession, low_id: int, high_id: int, agent_id: int | None) -> bool:
    if await session.get(MergeDismissal, (low_id, high_id)) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(MergeDismissal(low_id=low_id, high_id=high_id, agent_id=agent_id))
            await session.flush()
    except IntegrityError:
        return False
    return True
