"""Use cases for customers: validate (check_*), then write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError

from opora.customers import identity as ident
from opora.customers import repository, segments
from opora.customers.models import Customer, CustomerIdentity, CustomerMerge, IdentityKind
from opora.customers.repository import CustomerFilter, MovedTicket
from opora.customers.schemas import (
    MAX_CUSTOM_FIELDS,
    MAX_ID,
    MAX_IDENTITIES,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    IdentityIn,
    IdentityOut,
)
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, Actor
from opora.kit.errors import Conflict, InvalidInput, NotFound
from opora.kit.pagination import cursor_datetime, cursor_int, decode_cursor, split_page
from opora.kit.time import as_utc, utcnow
from opora.shop.money import from_minor

LANGUAGES = frozenset({"ru", "en"})
NAME_LENGTH = 200
# Attempts of find-or-create: a lost race is followed by a read that normally finds the winner.
_CREATE_ATTEMPTS = 3
# Merge chains are kept one hop long; the limit only guards against a corrupt loop.
_MAX_MERGE_HOPS = 16


async def find_or_create_by_identity(
    uow: UnitOfWork,
    kind: str,
    value: str,
    *,
    name: str | None = None,
    language: str | None = None,
    field: str = "identity",
) -> Customer:
    """The customer owning this identity, created (with the identity) if nobody does.

    Safe under concurrency: the unique (kind, value) constraint picks one winner, a loser's
    insert is undone in a savepoint and it reads the winner's customer. The inbound pipeline
    calls this for every message, so a known identity costs one indexed read. A missing name or
    language of a known customer is filled in; a known one is never overwritten. Languages other
    than ru/en are ignored. Malformed values raise InvalidInput naming ``<field>.kind|value``.
    """
    parsed, value = ident.normalize(kind, value, field=field)
    clean_name = (name or "").strip()[:NAME_LENGTH]
    clean_language = language if language in LANGUAGES else None
    for _ in range(_CREATE_ATTEMPTS):
        found = await repository.find_identity(uow.session, parsed, value)
        if found is not None:
            customer = await resolve_customer(uow, found.customer_id)
            if not customer.name and clean_name:
                customer.name = clean_name
            if customer.language is None and clean_language:
                customer.language = clean_language
            await uow.session.flush()
            return customer
        customer = Customer(name=clean_name, language=clean_language, custom_fields={})
        if await repository.insert_customer_unless_taken(uow.session, customer, parsed, value):
            return customer
    raise Conflict(f"The {parsed} identity {value} is being changed concurrently; try again.", field=field)


async def get_customer(uow: UnitOfWork, customer_id: int, *, field: str | None = None) -> Customer:
    customer = await repository.get_customer(uow.session, customer_id) if customer_id <= MAX_ID else None
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.", field=field)
    return customer


async def resolve_customer(uow: UnitOfWork, customer_id: int) -> Customer:
    """The customer, or the one it was merged into: what tickets and messages should point at."""
    customer = await get_customer(uow, customer_id)
    for _ in range(_MAX_MERGE_HOPS):
        if customer.merged_into_id is None:
            return customer
        customer = await get_customer(uow, customer.merged_into_id)
    raise RuntimeError(f"customer {customer_id}: merge chain too long or looping")


def check_not_merged(customer: Customer) -> None:
    if customer.merged_into_id is not None:
        raise Conflict(
            f"Customer {customer.id} was merged into customer {customer.merged_into_id}; change that one.",
            merged_into_id=customer.merged_into_id,
        )


async def check_new_identities(
    uow: UnitOfWork, identities: Sequence[IdentityIn], *, field: str = "identities"
) -> list[tuple[IdentityKind, str]]:
    """Normalise; refuse duplicates in the list and identities that another customer owns."""
    result: list[tuple[IdentityKind, str]] = []
    for index, item in enumerate(identities):
        at = f"{field}.{index}"
        pair = ident.normalize(item.kind, item.value, field=at)
        if pair in result:
            raise InvalidInput(f"The {pair[0]} {pair[1]} is listed twice.", field=f"{at}.value")
        await check_identity_free(uow, *pair, field=f"{at}.value")
        result.append(pair)
    return result


async def check_identity_free(
    uow: UnitOfWork, kind: str, value: str, *, field: str, customer_id: int | None = None
) -> CustomerIdentity | None:
    """Conflict if another customer owns (kind, value); the identity if ``customer_id`` owns it."""
    found = await repository.find_identity(uow.session, kind, value)
    if found is None or found.customer_id == customer_id:
        return found
    raise Conflict(
        f"The {kind} {value} already belongs to customer {found.customer_id}; "
        "merge the two customers to combine them.",
        field=field,
        customer_id=found.customer_id,
    )


async def create_customer(uow: UnitOfWork, data: CustomerCreate, *, actor: Actor = SYSTEM) -> Customer:
    identities = await check_new_identities(uow, data.identities)
    if not data.name and not identities:
        raise InvalidInput("Give the customer a name or at least one identity.", field="name")
    customer = Customer(
        name=data.name,
        language=data.language,
        custom_fields={k: v for k, v in data.custom_fields.items() if v is not None},
        timezone=check_timezone(data.timezone) if data.timezone else None,
    )
    try:
        await repository.insert_customer(uow.session, customer, identities)
    except IntegrityError as exc:  # a concurrent request took one of the identities
        raise Conflict(
            "One of the identities was just taken by another customer.", field="identities"
        ) from exc
    await segments.set_manual(uow, customer, data.segment, actor=actor)
    return customer


async def update_customer(
    uow: UnitOfWork, customer_id: int, data: CustomerUpdate, *, actor: Actor = SYSTEM
) -> Customer:
    customer = await get_customer(uow, customer_id)
    check_not_merged(customer)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput('The name cannot be null; send "" to clear it.', field="name")
    if "custom_fields" in changes:
        given = changes.pop("custom_fields")
        if given is None:
            raise InvalidInput(
                "custom_fields cannot be null; send a key as null to remove it.", field="custom_fields"
            )
        fields = _merge_fields(customer.custom_fields, given)
        if len(fields) > MAX_CUSTOM_FIELDS:
            raise InvalidInput(
                f"A customer has at most {MAX_CUSTOM_FIELDS} custom fields.", field="custom_fields"
            )
        customer.custom_fields = fields  # a new dict, so the JSON column is seen as changed
    if "timezone" in changes and changes["timezone"] is not None:
        changes["timezone"] = check_timezone(changes["timezone"])
    if "tags" in changes:
        tags = changes.pop("tags")
        if tags is None:
            raise InvalidInput("tags cannot be null; send [] to remove every tag.", field="tags")
        await repository.set_tags(uow.session, customer.id, sorted(set(tags)))
    if "segment" in changes:
        await segments.set_manual(uow, customer, changes.pop("segment"), actor=actor)
    for key, value in changes.items():
        setattr(customer, key, value)
    customer.updated_at = utcnow()
    await uow.session.flush()
    return customer


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{name!r} is not a time zone; use an IANA name like Europe/Moscow.", field="timezone"
        ) from None
    return name


def _merge_fields(stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    merged = {**stored, **given}
    return {k: v for k, v in merged.items() if v is not None}


async def add_identity(
    uow: UnitOfWork, customer_id: int, kind: str, value: str
) -> tuple[CustomerIdentity, bool]:
    """Attach an identity; (identity, created). Adding one the customer already has is a no-op."""
    customer = await get_customer(uow, customer_id)
    check_not_merged(customer)
    pair = ident.normalize(kind, value, field="")
    existing = await check_identity_free(uow, *pair, field="value", customer_id=customer.id)
    if existing is not None:
        return existing, False
    if await repository.count_identities(uow.session, customer.id) >= MAX_IDENTITIES:
        raise InvalidInput(f"A customer has at most {MAX_IDENTITIES} identities.", field="value")
    try:
        identity = await repository.insert_identity(uow.session, customer.id, *pair)
    except IntegrityError as exc:
        raise Conflict(f"The {pair[0]} {pair[1]} was just taken by another customer.", field="value") from exc
    customer.updated_at = utcnow()  # identities are part of the profile that clients sync
    await uow.session.flush()
    return identity, True


async def remove_identity(uow: UnitOfWork, customer_id: int, identity_id: int) -> Customer:
    customer = await get_customer(uow, customer_id)
    found = await repository.get_identity(uow.session, identity_id) if identity_id <= MAX_ID else None
    if found is None or found.customer_id != customer.id:
        raise NotFound(f"Customer {customer_id} has no identity {identity_id}.")
    await repository.delete_identity(uow.session, found)
    customer.updated_at = utcnow()
    await uow.session.flush()
    return customer


async def merge(uow: UnitOfWork, survivor_id: int, merged_id: int, *, actor: Actor = SYSTEM) -> Customer:
    """Fold ``merged_id`` into ``survivor_id``; return the survivor.

    Identities, tickets and customer messages move to the survivor, which keeps its own profile
    and takes from the merged record only what it lacks (name, language, custom fields, and a
    segment a person chose if its own is not one).
    The merged row stays with ``merged_into_id`` set, so old links still resolve. Every moved
    ticket gets a "customer_merged" event.
    """
    if survivor_id == merged_id:
        raise InvalidInput("A customer cannot be merged into itself.", field="merged_customer_id")
    # Locked in id order, so that two merges of the same pair wait instead of deadlocking.
    rows: dict[int, Customer | None] = {}
    for customer_id in sorted((survivor_id, merged_id)):
        rows[customer_id] = await repository.get_customer(uow.session, customer_id, lock=True)
    survivor, merged = rows[survivor_id], rows[merged_id]
    if survivor is None:
        raise NotFound(f"Customer {survivor_id} does not exist.")
    if merged is None:
        raise NotFound(f"Customer {merged_id} does not exist.", field="merged_customer_id")
    check_not_merged(survivor)
    if merged.merged_into_id is not None:
        raise Conflict(
            f"Customer {merged.id} is already merged into customer {merged.merged_into_id}.",
            field="merged_customer_id",
            merged_into_id=merged.merged_into_id,
        )
    moved: dict[str, Any] = await repository.moved_sets(uow.session, merged.id)
    tags = await repository.tags_by_customer(uow.session, [survivor.id, merged.id])
    added_tags = sorted(set(tags[merged.id]) - set(tags[survivor.id]))
    absorbed = _absorb(survivor, merged)
    if not segments.is_manual(survivor) and segments.is_manual(merged):
        # A person's choice ("blocked") on either record outweighs what rules gave the survivor.
        absorbed["segment"] = merged.segment
        await segments.set_manual(uow, survivor, merged.segment, actor=actor)
    await repository.move_rows(uow.session, moved, from_id=merged.id, to_id=survivor.id)
    await repository.add_tags(uow.session, survivor.id, added_tags)
    moved["tags"] = added_tags
    now = utcnow()
    merged.merged_into_id = survivor.id
    merged.updated_at = survivor.updated_at = now
    await repository.add_merge_record(
        uow.session,
        CustomerMerge(
            survivor_id=survivor.id,
            merged_id=merged.id,
            moved=moved,
            absorbed=absorbed,
            actor_type=actor.type,
            actor_id=actor.id,
            created_at=now,
        ),
    )
    await uow.session.flush()
    await segments.refresh(uow, [survivor.id, merged.id], actor=actor)
    tickets = await repository.tickets_brief(uow.session, moved["tickets"], survivor.id)
    await _record_moves(uow, tickets, "customer_merged", merged.id, survivor.id, actor)
    return survivor


async def unmerge(uow: UnitOfWork, survivor_id: int, merged_id: int, *, actor: Actor = SYSTEM) -> Customer:
    """Undo the last merge of ``merged_id`` into ``survivor_id``; return the separated customer.

    Exactly what that merge moved goes back (identities, tickets, messages, orders, notes, records
    merged earlier into the separated customer); what the survivor gained since stays. Profile
    fields the merge filled in are cleared again unless someone changed them since.
    """
    rows: dict[int, Customer | None] = {}
    for customer_id in sorted((survivor_id, merged_id)):
        rows[customer_id] = await repository.get_customer(uow.session, customer_id, lock=True)
    survivor, merged = rows[survivor_id], rows[merged_id]
    if survivor is None:
        raise NotFound(f"Customer {survivor_id} does not exist.")
    if merged is None:
        raise NotFound(f"Customer {merged_id} does not exist.", field="merged_customer_id")
    record = await repository.last_merge(uow.session, survivor.id, merged.id)
    if record is None or merged.merged_into_id != survivor.id:
        raise Conflict(
            f"Customer {merged.id} is not merged into customer {survivor.id}, or the merge was made "
            "before merges were recorded.",
            field="merged_customer_id",
        )
    check_not_merged(survivor)
    moved = record.moved or {}
    await repository.move_rows(uow.session, moved, from_id=survivor.id, to_id=merged.id)
    await repository.remove_tags(uow.session, survivor.id, moved.get("tags") or [])
    _give_back(survivor, record.absorbed or {})
    given_segment = (record.absorbed or {}).get("segment")
    if given_segment is not None and survivor.segment == given_segment and segments.is_manual(survivor):
        await segments.set_manual(uow, survivor, None, actor=actor)
    now = utcnow()
    merged.merged_into_id = None
    merged.updated_at = survivor.updated_at = now
    record.undone_at = now
    await uow.session.flush()
    await segments.refresh(uow, [survivor.id, merged.id], actor=actor)
    tickets = await repository.tickets_brief(uow.session, moved.get("tickets") or [], merged.id)
    await _record_moves(uow, tickets, "customer_unmerged", survivor.id, merged.id, actor)
    return merged


async def _record_moves(
    uow: UnitOfWork, tickets: Sequence[MovedTicket], kind: str, old: int, new: int, actor: Actor
) -> None:
    for ticket in tickets:
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind=kind,
            actor=actor,
            data={"customer_id": events.change(old, new)},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )


# The segment is absorbed apart (see merge): a rule's segment is recomputed, a person's is kept.
_ABSORBED_FIELDS = ("name", "language", "timezone")


def _absorb(survivor: Customer, merged: Customer) -> dict[str, Any]:
    """Fill the survivor's blanks from the merged record; return what was filled."""
    filled: dict[str, Any] = {}
    for name in _ABSORBED_FIELDS:
        if not getattr(survivor, name) and getattr(merged, name):
            filled[name] = getattr(merged, name)
            setattr(survivor, name, filled[name])
    own = survivor.custom_fields or {}
    extra = {k: v for k, v in (merged.custom_fields or {}).items() if k not in own}
    if extra:
        filled["custom_fields"] = extra
        survivor.custom_fields = {**extra, **own}
    return filled


def _give_back(survivor: Customer, absorbed: dict[str, Any]) -> None:
    for name in _ABSORBED_FIELDS:
        if name in absorbed and getattr(survivor, name) == absorbed[name]:
            setattr(survivor, name, "" if name == "name" else None)
    extra = absorbed.get("custom_fields") or {}
    if extra:
        fields = survivor.custom_fields or {}
        survivor.custom_fields = {k: v for k, v in fields.items() if not (k in extra and extra[k] == v)}


async def search(
    uow: UnitOfWork,
    *,
    q: str | None = None,
    identity_kind: str | None = None,
    identity_value: str | None = None,
    updated_since: datetime | None = None,
    include_merged: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Customer], str | None]:
    """One page of customers and the cursor of the next page (None on the last page)."""
    exact = None
    if (identity_kind is None) != (identity_value is None):
        missing = "identity_value" if identity_value is None else "identity_kind"
        raise InvalidInput("Give identity_kind and identity_value together.", field=missing)
    if identity_kind is not None and identity_value is not None:
        exact = ident.normalize(identity_kind, identity_value, field="identity")
    if updated_since is not None and updated_since.tzinfo is None:
        raise InvalidInput(
            "updated_since needs a time zone, e.g. 2024-05-01T10:00:00Z.", field="updated_since"
        )
    after = None
    if cursor:
        raw_updated, raw_id = decode_cursor(cursor, 2)
        after_id = cursor_int(raw_id)
        if not 0 < after_id <= MAX_ID:
            raise InvalidInput("The cursor is not valid.", field="cursor")
        after = (as_utc(cursor_datetime(raw_updated)), after_id)
    f = CustomerFilter(
        q=(q or "").strip() or None,
        identity=exact,
        updated_since=updated_since,
        include_merged=include_merged,
    )
    found = await repository.search_customers(uow.session, f, limit=limit + 1, after=after)
    return split_page(found, limit, lambda customer: (customer.updated_at, customer.id))


async def customer_out(uow: UnitOfWork, customers: Sequence[Customer]) -> list[CustomerOut]:
    identities = await repository.identities_by_customer(uow.session, [c.id for c in customers])
    tags = await repository.tags_by_customer(uow.session, [c.id for c in customers])
    return [
        CustomerOut(
            id=c.id,
            name=c.name,
            language=c.language,
            segment=c.segment,
            segment_source=c.segment_source,
            custom_fields=c.custom_fields or {},
            merged_into_id=c.merged_into_id,
            identities=[IdentityOut.model_validate(i) for i in identities.get(c.id, [])],
            timezone=c.timezone,
            tags=tags.get(c.id, []),
            orders_count=c.orders_count or 0,
            total_spent=from_minor(c.total_spent_minor or 0, c.spend_currency or "RUB"),
            spend_currency=c.spend_currency,
            last_order_at=c.last_order_at,
            erased_at=c.erased_at,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in customers
    ]
