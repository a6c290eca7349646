"""Use cases of personal-data handling: export, erasure, retention (152-FZ art. 14 and 21; GDPR 15, 17)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opora.customers import service as customers
from opora.db import UnitOfWork
from opora.kit.errors import Conflict, InvalidInput
from opora.kit.storage import AttachmentStore
from opora.kit.time import utcnow
from opora.privacy import repository
from opora.privacy.access import entries as access_entries
from opora.privacy.access import log_access
from opora.privacy.models import Erasure
from opora.shop.money import from_minor

MAX_RETENTION_MONTHS = 120
RETENTION_BATCH = 500
_UNSAFE_NAME = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class ErasureResult:
    customer_id: int
    tickets: int
    messages: int
    files_deleted: int


def _row(obj: Any, *names: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name.rstrip("_")] = value.isoformat() if isinstance(value, datetime) else value
    return out


async def export(uow: UnitOfWork, store: AttachmentStore, *, agent_id: int, customer_id: int) -> bytes:
    """A zip: ``customer.json`` with everything stored about the person, and their files."""
    customer = await customers.resolve_customer(uow, customer_id)
    group = await repository.group_ids(uow.session, customer.id)
    tickets = await repository.tickets_of(uow.session, group)
    messages = await repository.messages_of(uow.session, [t.id for t in tickets])
    files = await repository.attachments_of(uow.session, [m.id for m in messages])
    orders = await repository.orders_of(uow.session, group)
    record = (await customers.customer_out(uow, [customer]))[0].model_dump(mode="json")
    document = {
        "exported_at": utcnow().isoformat(),
        "customer": record,
        "merged_records": group[1:],
        "notes": [
            _row(n, "id", "author_agent_id", "text", "created_at")
            for n in await repository.notes_of(uow.session, group)
        ],
        "tickets": [
            {
                **_row(
                    t,
                    "id",
                    "subject",
                    "status",
                    "channel_type",
                    "language",
                    "custom_fields",
                    "created_at",
                    "closed_at",
                ),
                "messages": [
                    {
                        **_row(
                            m,
                            "id",
                            "direction",
                            "author_type",
                            "is_internal",
                            "text",
                            "channel_type",
                            "created_at",
                        ),
                        "attachments": [
                            f"attachments/{f.id}-{_safe(f.filename)}" for f in files if f.message_id == m.id
                        ],
                    }
                    for m in messages
                    if m.ticket_id == t.id and not m.is_internal
                ],
            }
            for t in tickets
        ],
        "orders": [
            {
                **_row(
                    o,
                    "id",
                    "number",
                    "status",
                    "currency",
                    "items",
                    "delivery_method",
                    "tracking_number",
                    "placed_at",
                ),
                "total": str(from_minor(o.total_minor, o.currency)),
            }
            for o in orders
        ],
        # How the desk classed the person over time is data about them, so it travels too.
        "segment_history": [
            _row(c, "old", "new", "source", "created_at")
            for c in await repository.segment_changes_of(uow.session, group)
        ],
        "access_log": [
            _row(e, "agent_id", "what", "created_at")
            for e in await access_entries(uow, customer_id=customer.id, limit=10_000)
        ],
    }
    # Internal notes of agents are the desk's own working notes, not data the customer gave; they
    # are left out like every other desk-internal record (document the choice in docs/privacy.md).
    await log_access(uow, agent_id=agent_id, customer_id=customer.id, what="export")
    blobs = [
        (f"attachments/{f.id}-{_safe(f.filename)}", f.sha256)
        for f in files
        if _public(f.message_id, messages)
    ]
    return await asyncio.to_thread(_zip, document, blobs, store)


def _public(message_id: int | None, messages: Any) -> bool:
    return any(m.id == message_id and not m.is_internal for m in messages)


def _safe(filename: str) -> str:
    return _UNSAFE_NAME.sub("_", filename)[:100] or "file"


def _zip(document: dict[str, Any], blobs: list[tuple[str, str]], store: AttachmentStore) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customer.json", json.dumps(document, ensure_ascii=False, indent=2, default=str))
        for name, digest in blobs:
            if store.exists(digest):
                archive.writestr(name, store.get(digest))
    return buffer.getvalue()


async def erase(
    uow: UnitOfWork, store: AttachmentStore, *, customer_id: int, actor_id: int | None, confirm: int | None
) -> ErasureResult:
    """Anonymise the person for good: texts, identities, notes, files. Counts and the fact remain.

    ``confirm`` must repeat the customer id: one mistyped id in a URL must not wipe someone else.
    """
    customer = await customers.get_customer(uow, customer_id)
    if confirm != customer.id:
        raise InvalidInput("Repeat the customer's id in 'confirm' to erase their data.", field="confirm")
    if customer.merged_into_id is not None:
        raise Conflict(
            f"Customer {customer.id} was merged into {customer.merged_into_id}; erase that one.",
            merged_into_id=customer.merged_into_id,
        )
    group = await repository.group_ids(uow.session, customer.id)
    values = [i.value for i in await repository.identities(uow.session, group)]
    tickets = [t.id for t in await repository.tickets_of(uow.session, group)]
    messages, unreferenced = await repository.redact_tickets(uow.session, tickets, "erasure")
    await repository.scrub_identities(uow.session, group, values)
    now = utcnow()
    customer.erased_at = now
    customer.updated_at = now
    await repository.add_erasure(
        uow.session,
        Erasure(
            customer_id=customer.id,
            actor_id=actor_id,
            reason="request",
            tickets=len(tickets),
            messages=messages,
            files_deleted=len(unreferenced),
            created_at=now,
        ),
    )
    await log_access(uow, agent_id=actor_id, customer_id=customer.id, what="erase")
    _delete_files_after_commit(uow, store, unreferenced)
    return ErasureResult(customer.id, len(tickets), messages, len(unreferenced))


def _delete_files_after_commit(uow: UnitOfWork, store: AttachmentStore, digests: list[str]) -> None:
    # Only once the rows are gone for good: a rolled-back erasure must still find its files.
    async def remove() -> None:
        for digest in digests:
            await asyncio.to_thread(store.path_for(digest).unlink, missing_ok=True)

    if digests:
        uow.after_commit(remove)


async def set_retention(uow: UnitOfWork, months: int | None) -> int | None:
    if months is not None and not 1 <= months <= MAX_RETENTION_MONTHS:
        raise InvalidInput(
            f"Keep data from 1 to {MAX_RETENTION_MONTHS} months, or null to keep it.", field="months"
        )
    row = await repository.save_retention(uow.session, months, utcnow())
    return row.closed_ticket_months


async def get_retention(uow: UnitOfWork) -> int | None:
    row = await repository.retention(uow.session)
    return row.closed_ticket_months if row else None


def months_before(now: datetime, months: int) -> datetime:
    """Calendar months back (31 March − 1 month = 28/29 February)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    day = now.day
    while True:
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


async def apply_retention(uow: UnitOfWork, store: AttachmentStore, *, now: datetime) -> int:
    """Redact one batch of closed tickets past retention; returns how many. Customers stay."""
    months = await get_retention(uow)
    if months is None:
        return 0
    tickets = await repository.expired_tickets(uow.session, months_before(now, months), limit=RETENTION_BATCH)
    _messages, unreferenced = await repository.redact_tickets(uow.session, tickets, "retention")
    _delete_files_after_commit(uow, store, unreferenced)
    return len(tickets)
