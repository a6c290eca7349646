"""Storing a batch of inbound messages with a handful of statements, whatever the batch size.

Look-ups are one query per kind for the whole batch (known identities, referenced messages, each
customer's latest ticket on the channel, the candidate tickets); threading then runs in memory,
message by message in arrival order, so that two messages of a new customer in one batch land in
the same new ticket; the writes are one multi-row INSERT per table. The per-payload fallback runs
this same code on a batch of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels.base import InboundMessage
from opora.channels.models import Channel
from opora.customers import identity
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.events import reactions
from opora.events.models import TicketEvent
from opora.events.reactions import Fact
from opora.events.service import TICKET_TOPIC
from opora.inbox import repository
from opora.inbox.threading import Candidate, decide
from opora.kit.html import sanitize_html
from opora.kit.time import utcnow
from opora.privacy.masking import mask_cards
from opora.runtime import Runtime
from opora.tickets.lifecycle import Status
from opora.tickets.models import Attachment, AuthorType, DeliveryStatus, Direction, Message, Ticket


@dataclass
class Item:
    """One inbound message of the batch and what threading decided for it."""

    channel: Channel
    inbound: InboundMessage
    kind: str
    value: str
    customer_id: int = 0
    ticket: TicketState | None = None
    threaded_by: str = "new"
    message_id: int = 0
    flooding: bool = False
    stored: Message | None = None


@dataclass(eq=False)
class TicketState:
    """A ticket as the batch sees it: loaded from the database or about to be inserted."""

    customer_id: int
    channel_id: int
    status: Status
    solved_at: datetime | None
    team_id: int | None
    assignee_id: int | None
    row: Ticket | None = None  # None for a ticket this batch creates
    id: int = 0
    follow_up_of: int | None = None
    subject: str = ""
    language: str | None = None
    channel_type: str = ""
    changes: list[tuple[int, Status, Status]] = field(default_factory=list)  # (item index, old, new)

    def candidate(self) -> Candidate:
        return Candidate(self.id, self.customer_id, self.status, self.solved_at)


@dataclass(frozen=True)
class Ingested:
    """What later stages (routing, SLA, automation, the bot) get for each stored message."""

    ticket_id: int
    message_id: int
    customer_id: int
    new_ticket: bool
    inbound: InboundMessage
    # The ticket's team and assignee as this batch left them (before any reaction), and a
    # transient copy of the stored message row without its attachments: what a hook needs to
    # announce the message without reading back what the batch has just written.
    team_id: int | None = None
    assignee_id: int | None = None
    message: Message | None = None


def sender_identity(inbound: InboundMessage) -> tuple[str, str]:
    """The normalised identity, or InvalidInput for a sender no customer can be made of."""
    kind, value = identity.normalize(str(inbound.sender_kind), inbound.sender_value, field="sender")
    return str(kind), value


async def ingest(
    uow: UnitOfWork, runtime: Runtime, items: list[Item], *, facts: list[Fact] | None = None
) -> list[Ingested]:
    """Store the batch's messages (and tickets, customers, events) in the caller's transaction.

    The events' reactions run before this transaction commits, or, when the caller passes a
    ``facts`` list, are added to it for the caller to defer (``reactions.defer``).
    """
    if not items:
        return []
    now = utcnow()
    await _resolve_customers(uow, items)
    await _flag_floods(uow, items, now)
    states = await _candidates(uow, items)
    _thread(items, states, now=now, window=timedelta(days=runtime.settings.reopen_window_days))
    await _insert_new_tickets(uow, items, now)
    await _insert_messages(uow, runtime, items, now)
    recorded = await _write_events_and_tickets(uow, items, now)
    if facts is None:
        reactions.note(uow, recorded)
    else:
        facts.extend(recorded)
    return [
        Ingested(
            item.ticket.id,
            item.message_id,
            item.customer_id,
            item.ticket.row is None,
            item.inbound,
            team_id=item.ticket.team_id,
            assignee_id=item.ticket.assignee_id,
            message=item.stored,
        )
        for item in items
        if item.ticket is not None
    ]


async def _resolve_customers(uow: UnitOfWork, items: list[Item]) -> None:
    known = await repository.customers_by_identity(uow.session, [(i.kind, i.value) for i in items])
    first_seen: dict[tuple[str, str], Item] = {}
    for item in items:
        key = (item.kind, item.value)
        if key not in known:
            first_seen.setdefault(key, item)
    if first_seen:
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "name": (i.inbound.sender_name or "").strip()[:200],
                "language": _language(i.inbound),
                "custom_fields": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in first_seen.values()
        ]
        ids = await repository.insert_returning_ids(uow.session, Customer, rows)
        await repository.insert_identities(
            uow.session,
            [
                {"customer_id": cid, "kind": k, "value": v, "created_at": now}
                for (k, v), cid in zip(first_seen, ids, strict=True)
            ],
        )
        known.update(zip(first_seen, ids, strict=True))
    for item in items:
        item.customer_id = known[(item.kind, item.value)]


# More messages than this from one sender within the window look like a loop with an auto-responder
# (or a flood): they are still stored, but flagged so that nothing answers them automatically.
FLOOD_LIMIT = 20
FLOOD_WINDOW = timedelta(minutes=10)


async def _flag_floods(uow: UnitOfWork, items: list[Item], now: datetime) -> None:
    counts = await repository.recent_inbound_counts(
        uow.session, [i.customer_id for i in items], now - FLOOD_WINDOW
    )
    for item in items:
        counts[item.customer_id] = counts.get(item.customer_id, 0) + 1
        item.flooding = counts[item.customer_id] > FLOOD_LIMIT


def _language(inbound: InboundMessage) -> str | None:
    language = inbound.metadata.get("language")
    return language if language in ("ru", "en") else None


def _refs(item: Item) -> list[str]:
    return [r for r in [item.inbound.reply_to, *item.inbound.metadata.get("references", ())] if r]


def _number(item: Item) -> int | None:
    number = item.inbound.metadata.get("ticket_number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


# A channel that sends on another channel's behalf (the chat widget mailing a reply to a visitor
# who left) knows references no message row of that other channel holds. Each resolver maps
# (channel id, provider message id) pairs it knows to their ticket ids; channels register here.
ReferenceResolver = Callable[[AsyncSession, Sequence[tuple[int, str]]], Awaitable[dict[tuple[int, str], int]]]
reference_resolvers: list[ReferenceResolver] = []


@dataclass
class _Found:
    by_ref: dict[tuple[int, str], int]
    latest: dict[tuple[int, int], int]
    tickets: dict[int, TicketState]


async def _candidates(uow: UnitOfWork, items: list[Item]) -> _Found:
    session = uow.session
    refs = [(i.channel.id, r) for i in items for r in _refs(i)]
    by_ref = await repository.tickets_by_reference(session, refs)
    for resolver in reference_resolvers:
        missing = [ref for ref in refs if ref not in by_ref]
        if missing:
            by_ref.update(await resolver(session, missing))
    latest = await repository.latest_tickets(session, [(i.customer_id, i.channel.id) for i in items])
    wanted = {*by_ref.values(), *latest.values(), *(n for i in items if (n := _number(i)) is not None)}
    rows = await repository.load_tickets(session, list(wanted), lock=not uow.is_sqlite)
    # Merged tickets forward to their survivor; merges are kept one hop long.
    survivors = {t.merged_into_id for t in rows.values() if t.merged_into_id is not None} - set(rows)
    rows.update(await repository.load_tickets(session, list(survivors), lock=not uow.is_sqlite))
    tickets: dict[int, TicketState] = {}
    for ticket in rows.values():
        target = rows.get(ticket.merged_into_id) if ticket.merged_into_id is not None else ticket
        if target is not None:
            tickets[ticket.id] = tickets.get(target.id) or _state_of(target)
            tickets[target.id] = tickets[ticket.id]
    return _Found(by_ref, latest, tickets)


def _state_of(ticket: Ticket) -> TicketState:
    return TicketState(
        customer_id=ticket.customer_id,
        channel_id=ticket.channel_id or 0,
        status=Status(ticket.status),
        solved_at=ticket.solved_at,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
        row=ticket,
        id=ticket.id,
        channel_type=ticket.channel_type,
    )


def _thread(items: list[Item], found: _Found, *, now: datetime, window: timedelta) -> None:
    """Decide each message's ticket in arrival order; earlier messages of the batch count."""
    in_batch: dict[tuple[int, str], TicketState] = {}
    latest: dict[tuple[int, int], TicketState] = {
        key: found.tickets[tid] for key, tid in found.latest.items() if tid in found.tickets
    }
    for index, item in enumerate(items):
        channel_id = item.channel.id
        referenced = None
        for ref in _refs(item):
            referenced = in_batch.get((channel_id, ref))
            if referenced is None and (tid := found.by_ref.get((channel_id, ref))) is not None:
                referenced = found.tickets.get(tid)
            if referenced is not None:
                break
        number = _number(item)
        numbered = found.tickets.get(number) if number is not None else None
        conversation = latest.get((item.customer_id, channel_id))
        decision = decide(
            customer_id=item.customer_id,
            by_reference=referenced.candidate() if referenced else None,
            by_number=numbered.candidate() if numbered else None,
            latest_on_channel=conversation.candidate() if conversation else None,
            continues_conversation=bool(
                item.inbound.metadata.get("continues_conversation", item.channel.type != "email")
            ),
            now=now,
            reopen_window=window,
        )
        chosen = next(
            (s for s in (referenced, numbered, conversation) if s and s.id == decision.ticket_id), None
        )
        if decision.ticket_id is None or chosen is None:
            chosen = TicketState(
                customer_id=item.customer_id,
                channel_id=channel_id,
                status=Status.NEW,
                solved_at=None,
                team_id=_team_of(item.channel),
                assignee_id=None,
                follow_up_of=decision.follow_up_of,
                subject=(item.inbound.subject or "")[:500],
                language=_language(item.inbound),
                channel_type=item.channel.type,
            )
            latest[(item.customer_id, channel_id)] = chosen
        elif decision.status != chosen.status and not _automatic(item.inbound):
            chosen.changes.append((index, chosen.status, decision.status))
            if chosen.status == Status.SOLVED:
                chosen.solved_at = None
            chosen.status = decision.status
        item.ticket = chosen
        item.threaded_by = decision.reason
        in_batch[(channel_id, item.inbound.external_id)] = chosen


def _automatic(inbound: InboundMessage) -> bool:
    # An out-of-office answer joins its ticket but neither wakes a pending ticket nor reopens a
    # solved one: nobody is waiting for a reply to it.
    return bool(inbound.metadata.get("auto_submitted"))


def _team_of(channel: Channel) -> int | None:
    team = channel.settings.get("team_id")
    return team if isinstance(team, int) and not isinstance(team, bool) else None


async def _insert_new_tickets(uow: UnitOfWork, items: list[Item], now: datetime) -> None:
    new: list[TicketState] = []
    for item in items:
        assert item.ticket is not None
        if item.ticket.row is None and item.ticket not in new:
            new.append(item.ticket)
    rows: list[dict[str, Any]] = [
        {
            "subject": s.subject,
            "status": Status.NEW,
            "priority": "normal",
            "channel_type": s.channel_type,
            "channel_id": s.channel_id,
            "team_id": s.team_id,
            "customer_id": s.customer_id,
            "language": s.language,
            "custom_fields": {},
            "created_at": now,
            "updated_at": now,
            "status_changed_at": now,
            "last_customer_message_at": now,
        }
        for s in new
    ]
    for state, ticket_id in zip(
        new, await repository.insert_returning_ids(uow.session, Ticket, rows), strict=True
    ):
        state.id = ticket_id


async def _insert_messages(uow: UnitOfWork, runtime: Runtime, items: list[Item], now: datetime) -> None:
    limit = runtime.settings.max_text_chars
    rows = []
    for item in items:
        assert item.ticket is not None
        inbound = item.inbound
        rows.append(
            {
                "ticket_id": item.ticket.id,
                "direction": Direction.IN,
                "author_type": AuthorType.CUSTOMER,
                "author_customer_id": item.customer_id,
                "is_internal": False,
                # Card numbers never reach storage (152-FZ / PCI): masked before the insert.
                "text": mask_cards(inbound.text[:limit]),
                "html": sanitize_html(mask_cards(inbound.html)) if inbound.html else None,
                "channel_type": item.channel.type,
                "channel_id": item.channel.id,
                "external_id": inbound.external_id,
                "delivery_status": DeliveryStatus.RECEIVED,
                "metadata_": _metadata(item),
                "created_at": now,
            }
        )
    ids = await repository.insert_returning_ids(uow.session, Message, rows)
    files: list[dict[str, Any]] = []
    for item, message_id, row in zip(items, ids, rows, strict=True):
        item.message_id = message_id
        item.stored = Message(id=message_id, **row)
        for part in item.inbound.attachments:
            if len(part.data) > runtime.storage.max_bytes:
                continue  # noted in the message metadata by _metadata
            digest = await asyncio.to_thread(runtime.storage.put, part.data)
            files.append(
                {
                    "message_id": message_id,
                    "sha256": digest,
                    "filename": part.filename[:255] or "attachment",
                    "content_type": part.content_type[:100] or "application/octet-stream",
                    "size": len(part.data),
                    "is_inline": part.is_inline,
                    "content_id": part.content_id,
                    "created_at": now,
                }
            )
    if files:
        await repository.insert_returning_ids(uow.session, Attachment, files)


def _metadata(item: Item) -> dict[str, Any]:
    inbound = item.inbound
    data: dict[str, Any] = {
        **inbound.metadata,
        "threaded_by": item.threaded_by,
        # Replies go back to the address the customer wrote from, not any identity they have.
        "sender": {"kind": item.kind, "value": inbound.sender_value},
    }
    if item.flooding:
        data["rate_limited"] = True
        data["no_auto_reply"] = True
    return data


async def _write_events_and_tickets(uow: UnitOfWork, items: list[Item], now: datetime) -> list[Fact]:
    events: list[dict[str, Any]] = []
    created: set[int] = set()
    for index, item in enumerate(items):
        state = item.ticket
        assert state is not None
        actor = {
            "actor_type": "customer",
            "actor_id": item.customer_id,
            "ticket_id": state.id,
            "created_at": now,
        }
        if state.row is None and state.id not in created:
            created.add(state.id)
            events.append(
                {
                    **actor,
                    "kind": "ticket_created",
                    "data": {
                        "channel_type": state.channel_type,
                        "customer_id": item.customer_id,
                        "follow_up_of": state.follow_up_of,
                    },
                }
            )
        events.append(
            {
                **actor,
                "kind": "message_added",
                "data": {
                    "message_id": item.message_id,
                    "direction": Direction.IN,
                    "internal": False,
                    "author_type": AuthorType.CUSTOMER,
                },
            }
        )
        for at, old, new in state.changes:
            if at == index:
                events.append(
                    {**actor, "kind": "status_changed", "data": {"status": {"old": old, "new": new}}}
                )
    ids = await repository.insert_returning_ids(uow.session, TicketEvent, events)
    teams = {item.ticket.id: (item.ticket.team_id, item.ticket.assignee_id) for item in items if item.ticket}
    for event_id, event in zip(ids, events, strict=True):
        team_id, assignee_id = teams[event["ticket_id"]]
        uow.publish(
            TICKET_TOPIC,
            {
                "id": event_id,
                "ticket_id": event["ticket_id"],
                "kind": event["kind"],
                "actor_type": "customer",
                "actor_id": event["actor_id"],
                "data": event["data"],
                "created_at": now.isoformat(),
                "team_id": team_id,
                "assignee_id": assignee_id,
            },
        )
    for item in items:
        state = item.ticket
        if state is None or state.row is None:
            continue
        row = state.row
        if row.status != state.status:
            row.status = state.status
            row.status_changed_at = now
            if state.solved_at is None:
                row.solved_at = None
        row.updated_at = now
        row.last_customer_message_at = now
    return [
        Fact(e["ticket_id"], e["kind"], e["actor_type"], e["actor_id"], e["data"], e["created_at"])
        for e in events
    ]
