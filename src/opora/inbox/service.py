"""The inbound pipeline shared by every channel.

verify → store raw (unique channel + external id) → job: parse → identify the customer → thread →
add the message → events → hooks for the later stages. A channel only writes ``verify``, ``parse``
and ``send``; everything here is the same for mail, chat and messengers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from opora.channels import service as channels_service
from opora.channels.base import ChannelAdapter, InboundMessage, UnparseablePayload
from opora.channels.models import Channel
from opora.customers import service as customers_service
from opora.db import UnitOfWork
from opora.events.service import Actor
from opora.inbox import repository
from opora.inbox.models import InboundPayload, PayloadState
from opora.inbox.threading import Candidate, decide
from opora.jobs.service import complete_queued, enqueue
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets import repository as tickets_repo
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import Attachment, Message, Ticket

log = logging.getLogger(__name__)

PROCESS_TASK = "inbox.process"
# Payloads handled in one transaction: batching is what lets the pipeline keep up with plain SQL.
BATCH_SIZE = 50
MAX_PAYLOAD_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    payload_id: int | None  # None: this (channel, external id) was stored before
    created: bool


# Later stages (routing, SLA, automation, the bot) subscribe here; each runs in the same
# transaction as the message it reacts to.
InboundHook = Callable[[UnitOfWork, Runtime, Ticket, Message, InboundMessage], Awaitable[None]]
inbound_hooks: list[InboundHook] = []


def job_key(payload_id: int) -> str:
    return f"{PROCESS_TASK}:{payload_id}"


async def receive(
    uow: UnitOfWork, *, channel_id: int, external_id: str, payload: bytes, content_type: str
) -> Received:
    """Store a raw payload once and queue its processing, in the caller's transaction.

    The channel may be acknowledged as soon as this commits: from then on nothing is lost.
    """
    if not external_id or len(external_id) > 500:
        raise InvalidInput("An external id of 1 to 500 characters is required.", field="external_id")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"The payload is larger than {MAX_PAYLOAD_BYTES} bytes.", field="payload")
    text, encoding = _encode(payload)
    payload_id = await repository.insert_payload(
        uow.session,
        channel_id=channel_id,
        external_id=external_id,
        content_type=content_type,
        encoding=encoding,
        payload=text,
    )
    if payload_id is None:
        return Received(payload_id=None, created=False)
    await enqueue(uow, PROCESS_TASK, {"payload_id": payload_id}, unique_key=job_key(payload_id))
    return Received(payload_id=payload_id, created=True)


def _encode(payload: bytes) -> tuple[str, str]:
    # PostgreSQL text holds neither NUL nor invalid UTF-8; such payloads travel as base64.
    if b"\x00" not in payload:
        try:
            return payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(payload).decode("ascii"), "base64"


def raw_bytes(row: InboundPayload) -> bytes:
    return base64.b64decode(row.payload) if row.encoding == "base64" else row.payload.encode("utf-8")


async def process(uow: UnitOfWork, runtime: Runtime, payload_id: int, *, batch_size: int = BATCH_SIZE) -> int:
    """Process this payload and up to ``batch_size - 1`` others still waiting; return how many.

    The others' own jobs are completed in the same transaction, so each payload is processed once
    whichever job reaches it first. The batch first runs straight through; if anything breaks, it
    is redone with a savepoint per payload so that the one payload that breaks the code is
    quarantined with its error instead of failing the whole batch forever.
    """
    others = await repository.next_received_ids(uow.session, exclude=payload_id, limit=batch_size - 1)
    ids = [payload_id, *others]
    try:
        rows = await _process_batch(uow, runtime, ids, isolate=False)
    except TRANSIENT:
        raise
    except Exception:
        log.warning("inbound batch failed; redoing it payload by payload", exc_info=True)
        await uow.restart()
        rows = await _process_batch(uow, runtime, ids, isolate=True)
    await complete_queued(uow, [job_key(row.id) for row in rows if row.id != payload_id])
    return len(rows)


# Errors that say nothing about the payload: the job fails and retries, nothing is quarantined.
TRANSIENT = (OperationalError, InterfaceError)


@dataclass
class _Parsed:
    row: InboundPayload
    channel: Channel | None = None
    messages: list[InboundMessage] = field(default_factory=list)
    error: str | None = None


async def _process_batch(
    uow: UnitOfWork, runtime: Runtime, ids: list[int], *, isolate: bool
) -> list[InboundPayload]:
    rows = await repository.lock_received(uow.session, ids, skip_locked=not uow.is_sqlite)
    parsed = await _parse_all(uow, runtime, rows)
    seen: dict[int, set[str]] = {}
    for channel_id in {item.channel.id for item in parsed if item.channel is not None}:
        wanted = [
            m.external_id
            for item in parsed
            if item.channel and item.channel.id == channel_id
            for m in item.messages
        ]
        seen[channel_id] = await repository.existing_external_ids(uow.session, channel_id, wanted)
    for item in parsed:
        if item.error is not None or item.channel is None:
            await _quarantine(item.row, item.error or "the channel no longer exists")
            continue
        if not isolate:
            await _store(uow, runtime, item, seen[item.channel.id])
            continue
        try:
            async with uow.session.begin_nested():
                await _store(uow, runtime, item, seen[item.channel.id])
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("inbound payload %s failed", item.row.id)
            await _quarantine(item.row, f"processing failed: {exc.__class__.__name__}: {exc}")
    return rows


async def _parse_all(uow: UnitOfWork, runtime: Runtime, rows: list[InboundPayload]) -> list[_Parsed]:
    adapters: dict[int, ChannelAdapter | None] = {}
    result: list[_Parsed] = []
    for row in rows:
        item = _Parsed(row)
        result.append(item)
        channel = await uow.session.get(Channel, row.channel_id)
        if channel is None:
            continue
        if channel.id not in adapters:
            adapters[channel.id] = channels_service.adapter_for(runtime, channel)
        item.channel = channel
        if adapters[channel.id] is None:
            item.error = f"no adapter is installed for channel type {channel.type!r}"
    work = [(item, adapters[item.channel.id]) for item in result if item.channel and item.error is None]
    # Parsing is CPU work on untrusted input: one trip to a thread for the whole batch keeps it off
    # the event loop without paying a thread hop per payload.
    await asyncio.to_thread(_parse_in_thread, work)
    return result


def _parse_in_thread(work: list[tuple[_Parsed, ChannelAdapter | None]]) -> None:
    for item, adapter in work:
        assert adapter is not None
        try:
            item.messages = adapter.parse(raw_bytes(item.row), item.row.content_type)
        except UnparseablePayload as exc:
            item.error = f"unparseable: {exc}"
        except Exception as exc:  # a parser bug on odd input must not block the queue
            item.error = f"parser error: {exc.__class__.__name__}: {exc}"


async def _quarantine(row: InboundPayload, error: str) -> None:
    row.state = PayloadState.QUARANTINED
    row.error = error[:4000]
    row.attempts += 1
    row.processed_at = utcnow()


async def _store(uow: UnitOfWork, runtime: Runtime, item: _Parsed, seen: set[str]) -> None:
    assert item.channel is not None
    stored = False
    for message in item.messages:
        # The same provider message in another envelope (a redelivery) is stored once.
        if message.external_id in seen:
            continue
        seen.add(message.external_id)
        stored = await _ingest(uow, runtime, item.channel, message) or stored
    row = item.row
    row.attempts += 1
    row.processed_at = utcnow()
    row.state = PayloadState.PROCESSED if stored else PayloadState.IGNORED
    row.error = None


async def _ingest(uow: UnitOfWork, runtime: Runtime, channel: Channel, inbound: InboundMessage) -> bool:
    session = uow.session
    bounce_of = inbound.metadata.get("bounce_of")
    if bounce_of:
        # A delivery report is about our mail, not a new conversation.
        original = await repository.message_by_external_id(session, channel.id, [str(bounce_of)])
        if original is not None and original.direction == "out":
            reason = str(
                inbound.metadata.get("bounce_reason") or "the recipient's server refused the message"
            )
            await repository.mark_outbound_failed(session, original.id, reason[:2000])
        return False
    customer = await customers_service.find_or_create_by_identity(
        uow,
        inbound.sender_kind,
        inbound.sender_value,
        name=inbound.sender_name,
        language=inbound.metadata.get("language"),
        field="sender",
    )
    now = utcnow()
    references = [r for r in [inbound.reply_to, *inbound.metadata.get("references", ())] if r]
    referenced = await repository.message_by_external_id(session, channel.id, references)
    by_reference = await _candidate(session, referenced.ticket_id if referenced else None)
    number = inbound.metadata.get("ticket_number")
    by_number = await _candidate(session, number if isinstance(number, int) else None)
    latest = await repository.latest_ticket_of(session, customer_id=customer.id, channel_id=channel.id)
    decision = decide(
        customer_id=customer.id,
        by_reference=by_reference,
        by_number=by_number,
        latest_on_channel=await _candidate(session, latest.id if latest else None),
        continues_conversation=bool(inbound.metadata.get("continues_conversation", channel.type != "email")),
        now=now,
        reopen_window=timedelta(days=runtime.settings.reopen_window_days),
    )
    if decision.ticket_id is None:
        ticket = await tickets_service.open_ticket(
            uow,
            actor=Actor("customer", customer.id),
            customer=customer,
            subject=(inbound.subject or "")[:500],
            channel_type=channel.type,
            channel_id=channel.id,
            follow_up_of=decision.follow_up_of,
            team_id=_int(channel.settings.get("team_id")),
        )
    else:
        found = await tickets_repo.get_ticket(session, decision.ticket_id, for_update=not uow.is_sqlite)
        if found is None:
            raise NotFound(f"Ticket {decision.ticket_id} vanished while threading.")
        ticket = found
    message = await tickets_service.append_inbound(
        uow,
        ticket,
        customer_id=customer.id,
        text=inbound.text[: runtime.settings.max_text_chars],
        html=inbound.html,
        external_id=inbound.external_id,
        status=decision.status,
        metadata=_jsonable(
            {
                **inbound.metadata,
                "threaded_by": decision.reason,
                # Replies go back to the address the customer wrote from, not any identity they have.
                "sender": {"kind": str(inbound.sender_kind), "value": inbound.sender_value},
            }
        ),
        created_at=now,
    )
    await _store_attachments(uow, runtime, message, inbound)
    for hook in inbound_hooks:
        await hook(uow, runtime, ticket, message, inbound)
    return True


async def _candidate(session: Any, ticket_id: int | None) -> Candidate | None:
    if ticket_id is None:
        return None
    ticket = await tickets_repo.get_ticket(session, ticket_id)
    # Merged tickets forward to their survivor; merges are kept one hop long.
    if ticket is not None and ticket.merged_into_id is not None:
        ticket = await tickets_repo.get_ticket(session, ticket.merged_into_id)
    if ticket is None:
        return None
    return Candidate(ticket.id, ticket.customer_id, Status(ticket.status), ticket.solved_at)


async def _store_attachments(
    uow: UnitOfWork, runtime: Runtime, message: Message, inbound: InboundMessage
) -> None:
    limit = runtime.storage.max_bytes
    for item in inbound.attachments:
        if len(item.data) > limit:
            # Keep the message; note the file that was too large instead of refusing the mail.
            message.metadata_ = {
                **message.metadata_,
                "skipped_attachments": [
                    *message.metadata_.get("skipped_attachments", []),
                    {"filename": item.filename, "size": len(item.data)},
                ],
            }
            continue
        digest = await asyncio.to_thread(runtime.storage.put, item.data)
        uow.session.add(
            Attachment(
                message_id=message.id,
                sha256=digest,
                filename=item.filename[:255] or "attachment",
                content_type=item.content_type[:100] or "application/octet-stream",
                size=len(item.data),
                is_inline=item.is_inline,
                content_id=item.content_id,
                created_at=utcnow(),
            )
        )
    await uow.session.flush()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return result


async def retry_payload(uow: UnitOfWork, payload_id: int) -> InboundPayload:
    """An admin sends a quarantined payload through the pipeline again (after a fix or a config change)."""
    row = await repository.get_payload(uow.session, payload_id)
    if row is None:
        raise NotFound(f"Inbound payload {payload_id} does not exist.")
    if row.state != PayloadState.QUARANTINED:
        raise InvalidInput(
            f"Only quarantined payloads can be retried; this one is {row.state}.", field="state"
        )
    row.state = PayloadState.RECEIVED
    row.error = None
    await enqueue(uow, PROCESS_TASK, {"payload_id": row.id}, unique_key=job_key(row.id))
    return row
