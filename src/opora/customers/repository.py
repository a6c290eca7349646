"""All SQL about customers and their identities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opora.customers.models import Customer, CustomerIdentity
from opora.kit.time import utcnow
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


async def move_identities(session: AsyncSession, *, from_id: int, to_id: int) -> None:
    await session.execute(
        update(CustomerIdentity).where(CustomerIdentity.customer_id == from_id).values(customer_id=to_id)
    )


async def repoint_tickets(session: AsyncSession, *, from_id: int, to_id: int) -> list[MovedTicket]:
    """Move tickets and customer-authored messages to another customer; return the moved tickets."""
    rows = await session.execute(
        select(Ticket.id, Ticket.team_id, Ticket.assignee_id)
        .where(Ticket.customer_id == from_id)
        .order_by(Ticket.id)
    )
    moved = [MovedTicket(id=r.id, team_id=r.team_id, assignee_id=r.assignee_id) for r in rows]
    # updated_at moves too, so that clients syncing tickets by "updated since" see the change.
    await session.execute(
        update(Ticket).where(Ticket.customer_id == from_id).values(customer_id=to_id, updated_at=utcnow())
    )
    await session.execute(
        update(Message).where(Message.author_customer_id == from_id).values(author_customer_id=to_id)
    )
    return moved


async def repoint_merged(session: AsyncSession, *, from_id: int, to_id: int) -> None:
    """Customers merged earlier into ``from_id`` now point at ``to_id``: one hop to the survivor."""
    await session.execute(
        update(Customer).where(Customer.merged_into_id == from_id).values(merged_into_id=to_id)
    )


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
