"""Ticket use cases: create, read, change, reply, merge. Every change writes an event row."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opora.agents import repository as agents_repo
from opora.agents.models import Role
from opora.auth.permissions import Principal, can_assign_to, can_see_ticket
from opora.channels import registry as channel_registry
from opora.channels.models import Channel
from opora.customers import service as customers_service
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, Actor, change
from opora.jobs.service import enqueue
from opora.kit.errors import Forbidden, InvalidInput, NotFound
from opora.kit.html import sanitize_html
from opora.kit.pagination import cursor_datetime, cursor_int, decode_cursor, split_page
from opora.kit.storage import AttachmentStore
from opora.kit.time import utcnow
from opora.privacy.masking import mask_cards
from opora.tickets import lifecycle, repository
from opora.tickets.lifecycle import Status
from opora.tickets.models import Attachment, AuthorType, DeliveryStatus, Direction, Message, Ticket
from opora.tickets.repository import TicketFilter
from opora.tickets.schemas import (
    AttachmentOut,
    CustomerRef,
    MessageIn,
    MessageOut,
    TicketCreate,
    TicketOut,
    TicketUpdate,
)

DELIVER_TASK = "messages.deliver"
# An agent entering a customer's message by hand reopens a solved ticket whatever its age.
MANUAL_REOPEN_WINDOW = timedelta.max


async def visible_ticket(
    uow: UnitOfWork, principal: Principal, ticket_id: int, *, write: bool = False
) -> Ticket:
    ticket = await repository.get_ticket(uow.session, ticket_id, for_update=write)
    if ticket is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    if not can_see_ticket(principal, team_id=ticket.team_id, assignee_id=ticket.assignee_id):
        raise Forbidden(f"You may not see ticket {ticket_id}.")
    if write and not principal.can_write:
        raise Forbidden("This account is read-only.")
    return ticket


def visibility_filter(principal: Principal, f: TicketFilter) -> TicketFilter:
    if not principal.sees_all_tickets:
        f.visible_team_ids = principal.team_ids
        f.visible_agent_id = principal.agent_id
    return f


async def list_tickets(
    uow: UnitOfWork,
    principal: Principal,
    f: TicketFilter,
    *,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
) -> tuple[list[Ticket], str | None]:
    after = None
    if cursor:
        raw_updated, raw_id = decode_cursor(cursor, 2)
        after = (cursor_datetime(raw_updated), cursor_int(raw_id))
    found = await repository.list_tickets(
        uow.session, visibility_filter(principal, f), limit=limit + 1, after=after, oldest_first=oldest_first
    )
    return split_page(found, limit, lambda ticket: (ticket.updated_at, ticket.id))


async def _resolve_customer(uow: UnitOfWork, ref: CustomerRef) -> Customer:
    if ref.id is not None:
        if await uow.session.get(Customer, ref.id) is None:
            raise InvalidInput(f"Customer {ref.id} does not exist.", field="customer.id")
        # A merged customer's tickets belong to the survivor.
        return await customers_service.resolve_customer(uow, ref.id)
    if ref.identity is None:
        raise InvalidInput("Give the customer's id or an identity.", field="customer")
    return await customers_service.find_or_create_by_identity(
        uow, ref.identity.kind, ref.identity.value, name=ref.name, field="customer.identity"
    )


async def _check_assignment(
    uow: UnitOfWork, principal: Principal, *, team_id: int | None, assignee_id: int | None
) -> None:
    if team_id is not None and await agents_repo.get_team(uow.session, team_id) is None:
        raise InvalidInput(f"Team {team_id} does not exist.", field="team_id")
    if assignee_id is None:
        return
    assignee = await agents_repo.get_agent(uow.session, assignee_id)
    if assignee is None or not assignee.is_active:
        raise InvalidInput(f"Agent {assignee_id} does not exist or is disabled.", field="assignee_id")
    if assignee.role == Role.READONLY:
        raise InvalidInput("Read-only accounts cannot be assigned tickets.", field="assignee_id")
    assignee_teams = await agents_repo.team_ids_of(uow.session, assignee_id)
    if not can_assign_to(principal, assignee_id=assignee_id, assignee_team_ids=assignee_teams):
        raise Forbidden("You may assign tickets only to yourself or to colleagues of your teams.")


async def create_ticket(uow: UnitOfWork, principal: Principal, data: TicketCreate) -> Ticket:
    if not principal.can_write:
        raise Forbidden("This account is read-only.")
    await _check_assignment(uow, principal, team_id=data.team_id, assignee_id=data.assignee_id)
    if data.team_id is None and data.assignee_id is None and not principal.sees_all_tickets:
        # Without a team the agent could not see the ticket it just created.
        raise InvalidInput("Choose a team or an assignee for the ticket.", field="team_id")
    customer = await _resolve_customer(uow, data.customer)
    ticket = await open_ticket(
        uow,
        actor=principal.actor,
        customer=customer,
        subject=data.subject,
        channel_type="api",
        channel_id=None,
        priority=data.priority,
        team_id=data.team_id,
        assignee_id=data.assignee_id,
        topic=data.topic,
        language=data.language,
        custom_fields=data.custom_fields,
        tags=data.tags,
    )
    await add_message(uow, principal, ticket.id, data.message, ticket=ticket, customer_id=customer.id)
    return ticket


async def open_ticket(
    uow: UnitOfWork,
    *,
    actor: Actor,
    customer: Customer,
    subject: str,
    channel_type: str,
    channel_id: int | None,
    priority: str = "normal",
    team_id: int | None = None,
    assignee_id: int | None = None,
    topic: str | None = None,
    language: str | None = None,
    custom_fields: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    follow_up_of: int | None = None,
) -> Ticket:
    """Insert a ticket and its creation event; shared by the API and the inbound pipeline."""
    now = utcnow()
    ticket = Ticket(
        subject=subject,
        status=Status.NEW,
        priority=priority,
        channel_type=channel_type,
        channel_id=channel_id,
        team_id=team_id,
        assignee_id=assignee_id,
        customer_id=customer.id,
        topic=topic,
        language=language or customer.language,
        custom_fields=custom_fields or {},
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    uow.session.add(ticket)
    await uow.session.flush()
    if tags:
        await repository.set_tags(uow.session, ticket.id, tags)
    await _event(
        uow,
        ticket,
        "ticket_created",
        actor,
        {"channel_type": channel_type, "customer_id": customer.id, "follow_up_of": follow_up_of},
    )
    if assignee_id is not None:
        # Created already assigned: the assignee hears of it as of any other assignment.
        await _event(uow, ticket, "assigned", actor, {"assignee_id": change(None, assignee_id)})
    return ticket


async def _event(uow: UnitOfWork, ticket: Ticket, kind: str, actor: Actor, data: dict[str, Any]) -> None:
    """Record a change of ``ticket``; its team and assignee travel with the live message."""
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=kind,
        actor=actor,
        data=data,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


async def announce_message(
    uow: UnitOfWork, message: Message, actor: Actor, *, team_id: int | None, assignee_id: int | None
) -> None:
    """Record the ``message_added`` event of a flushed message and queue its delivery if it waits.

    Every writer of outgoing messages (agents, the bot, surveys, auto-replies, device notices)
    goes through here, so the event carries the same fields whoever wrote it and a queued message
    always gets exactly one delivery job.
    """
    await events.record(
        uow,
        ticket_id=message.ticket_id,
        kind="message_added",
        actor=actor,
        data={
            "message_id": message.id,
            "direction": message.direction,
            "internal": message.is_internal,
            "author_type": message.author_type,
        },
        team_id=team_id,
        assignee_id=assignee_id,
    )
    if message.delivery_status != DeliveryStatus.QUEUED:
        return
    if message.channel_id is not None and channel_registry.delivered_on_commit(message.channel_type):
        await _sent_on_commit(uow, message, team_id=team_id, assignee_id=assignee_id)
        return
    await enqueue(uow, DELIVER_TASK, {"message_id": message.id}, unique_key=f"deliver:{message.id}")


async def _sent_on_commit(
    uow: UnitOfWork, message: Message, *, team_id: int | None, assignee_id: int | None
) -> None:
    """Record the outcome the delivery job would record for a channel whose replies travel with
    the commit (the chat widget): sent, or failed on a deactivated channel. Same rows, one
    transaction and no job: the job cost more CPU than the rest of the reply (ADR 0036)."""
    channel = await uow.session.get(Channel, message.channel_id)
    if channel is None:
        message.delivery_status = DeliveryStatus.FAILED
        message.delivery_error = "the ticket's channel no longer exists"
    elif not channel.is_active:
        message.delivery_status = DeliveryStatus.FAILED
        message.delivery_error = f"channel {channel.name!r} is deactivated"
    else:
        message.delivery_status = DeliveryStatus.SENT
        message.delivery_error = None
    await events.record(
        uow,
        ticket_id=message.ticket_id,
        kind="message_delivery",
        actor=SYSTEM,
        data={"message_id": message.id, "status": message.delivery_status, "error": message.delivery_error},
        team_id=team_id,
        assignee_id=assignee_id,
    )


async def _set_status(uow: UnitOfWork, ticket: Ticket, status: Status, actor: Actor, now: datetime) -> None:
    old = Status(ticket.status)
    if old == status:
        return
    ticket.status = status
    ticket.status_changed_at = now
    if status == Status.SOLVED:
        ticket.solved_at = now
    elif status == Status.CLOSED:
        ticket.closed_at = now
    elif old == Status.SOLVED:
        ticket.solved_at = None
    await _event(uow, ticket, "status_changed", actor, {"status": change(old, status)})


async def change_status(uow: UnitOfWork, ticket: Ticket, status: Status, actor: Actor) -> None:
    """Move ``ticket`` to ``status`` by the lifecycle's rules, for use cases outside this module
    (the bot solving a ticket it resolved); the caller checked that ``actor`` may."""
    now = utcnow()
    await _set_status(uow, ticket, lifecycle.transition(Status(ticket.status), status), actor, now)
    ticket.updated_at = now


async def update_ticket(uow: UnitOfWork, principal: Principal, ticket_id: int, data: TicketUpdate) -> Ticket:
    ticket = await visible_ticket(uow, principal, ticket_id, write=True)
    changes = data.model_dump(exclude_unset=True)
    for key in ("subject", "status", "priority", "tags"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "team_id" in changes or "assignee_id" in changes:
        await _check_assignment(
            uow, principal, team_id=changes.get("team_id"), assignee_id=changes.get("assignee_id")
        )
    if ticket.merged_into_id is not None:
        raise InvalidInput(f"Ticket {ticket.id} was merged into #{ticket.merged_into_id}.", field="ticket_id")
    now = utcnow()
    actor = principal.actor
    if "status" in changes:
        await _set_status(
            uow, ticket, lifecycle.transition(Status(ticket.status), changes.pop("status")), actor, now
        )
    elif Status(ticket.status) == Status.CLOSED and changes:
        raise InvalidInput("A closed ticket cannot be changed.", field="status")
    simple = {
        "subject": "subject_changed",
        "priority": "priority_changed",
        "topic": "topic_changed",
        "language": "language_changed",
        "team_id": "team_changed",
        "assignee_id": "assigned",
    }
    for key, kind in simple.items():
        if key in changes and changes[key] != getattr(ticket, key):
            old = getattr(ticket, key)
            setattr(ticket, key, changes[key])
            await _event(uow, ticket, kind, actor, {key: change(old, changes[key])})
    if "tags" in changes:
        old_tags = (await repository.tags_of(uow.session, [ticket.id]))[ticket.id]
        new_tags = sorted(set(changes["tags"]))
        if old_tags != new_tags:
            await repository.set_tags(uow.session, ticket.id, new_tags)
            await _event(uow, ticket, "tags_changed", actor, {"tags": change(old_tags, new_tags)})
    if changes.get("custom_fields"):
        merged = dict(ticket.custom_fields)
        for key, value in changes["custom_fields"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != ticket.custom_fields:
            old_fields = ticket.custom_fields
            ticket.custom_fields = merged
            await _event(uow, ticket, "fields_changed", actor, {"custom_fields": change(old_fields, merged)})
    ticket.updated_at = now
    await uow.session.flush()
    return ticket


async def add_message(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: int,
    data: MessageIn,
    *,
    ticket: Ticket | None = None,
    customer_id: int | None = None,
) -> Message:
    """A public reply, an internal note, or a customer message entered by an agent."""
    ticket = ticket or await visible_ticket(uow, principal, ticket_id, write=True)
    if not principal.can_write:
        raise Forbidden("This account is read-only.")
    if ticket.merged_into_id is not None:
        raise InvalidInput(f"Ticket {ticket.id} was merged into #{ticket.merged_into_id}.", field="ticket_id")
    now = utcnow()
    current = Status(ticket.status)
    # Card numbers never reach storage, whoever typed them.
    data = data.model_copy(
        update={"text": mask_cards(data.text), "html": mask_cards(data.html) if data.html else None}
    )
    html = sanitize_html(data.html) if data.html else None
    if data.author == "customer":
        if data.internal:
            raise InvalidInput("A customer message cannot be an internal note.", field="internal")
        if current == Status.CLOSED:
            raise InvalidInput("The ticket is closed; create a new ticket instead.", field="status")
        outcome = lifecycle.on_customer_message(
            current, solved_at=ticket.solved_at, now=now, reopen_window=MANUAL_REOPEN_WINDOW
        )
        message = Message(
            ticket_id=ticket.id,
            direction=Direction.IN,
            author_type=AuthorType.CUSTOMER,
            author_customer_id=customer_id or ticket.customer_id,
            text=data.text,
            html=html,
            channel_type=ticket.channel_type,
            delivery_status=DeliveryStatus.RECEIVED,
            created_at=now,
        )
        ticket.last_customer_message_at = now
        new_status = lifecycle.transition(outcome.status, data.status) if data.status else outcome.status
    elif data.internal:
        message = Message(
            ticket_id=ticket.id,
            direction=Direction.OUT,
            author_type=AuthorType.AGENT,
            author_agent_id=principal.agent_id,
            is_internal=True,
            text=data.text,
            html=html,
            channel_type=ticket.channel_type,
            delivery_status=DeliveryStatus.NOT_SENT,
            created_at=now,
        )
        new_status = lifecycle.transition(current, data.status) if data.status else current
    else:
        new_status = lifecycle.on_agent_reply(current, data.status)
        message = Message(
            ticket_id=ticket.id,
            direction=Direction.OUT,
            author_type=AuthorType.AGENT,
            author_agent_id=principal.agent_id,
            text=data.text,
            html=html,
            channel_type=ticket.channel_type,
            channel_id=ticket.channel_id,
            # A ticket with a channel gets the reply delivered by a job; one created through the
            # API has no channel of its own and the shop's integration reads replies from the API.
            delivery_status=DeliveryStatus.QUEUED if ticket.channel_id else DeliveryStatus.NOT_SENT,
            created_at=now,
        )
        if ticket.first_response_at is None:
            ticket.first_response_at = now
    uow.session.add(message)
    await uow.session.flush()
    await announce_message(
        uow, message, principal.actor, team_id=ticket.team_id, assignee_id=ticket.assignee_id
    )
    await _set_status(uow, ticket, new_status, principal.actor, now)
    ticket.updated_at = now
    return message


async def merge_tickets(uow: UnitOfWork, principal: Principal, source_id: int, target_id: int) -> Ticket:
    source = await visible_ticket(uow, principal, source_id, write=True)
    target = await visible_ticket(uow, principal, target_id, write=True)
    lifecycle.check_merge(
        source_id=source.id,
        source_status=Status(source.status),
        source_merged=source.merged_into_id is not None,
        target_id=target.id,
        target_status=Status(target.status),
        target_merged=target.merged_into_id is not None,
    )
    now = utcnow()
    moved = await repository.move_messages(uow.session, from_ticket_id=source.id, to_ticket_id=target.id)
    source.merged_into_id = target.id
    # The merged ticket is finished for good: replies thread into the survivor from now on.
    await _set_status(uow, source, Status.CLOSED, principal.actor, now)
    source_tags = await repository.tags_of(uow.session, [source.id, target.id])
    union = sorted(set(source_tags[source.id]) | set(source_tags[target.id]))
    if union != source_tags[target.id]:
        await repository.set_tags(uow.session, target.id, union)
    await _event(
        uow, source, "merged", principal.actor, {"merged_into_id": target.id, "messages_moved": moved}
    )
    await _event(
        uow,
        target,
        "ticket_merged_in",
        principal.actor,
        {"source_ticket_id": source.id, "messages_moved": moved},
    )
    source.updated_at = now
    target.updated_at = now
    await uow.session.flush()
    return target


async def ticket_out(uow: UnitOfWork, tickets: Sequence[Ticket]) -> list[TicketOut]:
    tags = await repository.tags_of(uow.session, [t.id for t in tickets])
    return [
        TicketOut.model_validate(
            {
                **{c.key: getattr(t, c.key) for c in Ticket.__table__.columns},
                "number": t.id,
                "tags": tags[t.id],
            }
        )
        for t in tickets
    ]


async def message_out(uow: UnitOfWork, messages: Sequence[Message]) -> list[MessageOut]:
    files = await repository.attachments_of(uow.session, [m.id for m in messages])
    result = []
    for m in messages:
        fields = {c.key: getattr(m, c.key) for c in Message.__table__.columns if c.key != "metadata"}
        fields["attachments"] = [AttachmentOut.model_validate(a) for a in files[m.id]]
        result.append(MessageOut.model_validate(fields))
    return result


async def visible_attachment(
    uow: UnitOfWork, principal: Principal, attachment_id: int
) -> tuple[Attachment, Ticket]:
    attachment = await uow.session.get(Attachment, attachment_id)
    message = (
        await uow.session.get(Message, attachment.message_id)
        if attachment and attachment.message_id
        else None
    )
    if attachment is None or message is None:
        raise NotFound(f"Attachment {attachment_id} does not exist.")
    ticket = await visible_ticket(uow, principal, message.ticket_id)
    if message.is_internal and principal.role == Role.READONLY:
        raise Forbidden("Read-only accounts do not open files of internal notes.")
    return attachment, ticket


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


# Agents attach documents and pictures; anything a browser could run is refused.
_REFUSED_UPLOAD_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "application/javascript")
MAX_UPLOADS = 10


async def attach_uploads(
    uow: UnitOfWork, storage: AttachmentStore, message: Message, uploads: Sequence[Upload]
) -> list[Attachment]:
    """Files an agent sent with a reply or note; stored before the transaction commits, so the
    delivery job that the reply queued finds them."""
    if len(uploads) > MAX_UPLOADS:
        raise InvalidInput(f"At most {MAX_UPLOADS} files per message.", field="files")
    rows = []
    for upload in uploads:
        content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
        if content_type in _REFUSED_UPLOAD_TYPES:
            raise InvalidInput(f"Files of type {content_type} cannot be attached.", field="files")
        name = upload.filename.replace("/", "_").replace("\\", "_").strip()[:255] or "file"
        digest = await asyncio.to_thread(storage.put, upload.data)
        rows.append(
            Attachment(
                message_id=message.id,
                sha256=digest,
                filename=name,
                content_type=content_type,
                size=len(upload.data),
            )
        )
    uow.session.add_all(rows)
    await uow.session.flush()
    return rows
