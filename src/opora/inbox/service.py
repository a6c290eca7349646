"""The inbound pipeline shared by every channel.

verify → store raw (unique channel + external id) → job: parse → identify the customer → thread →
add the message → events → hooks for the later stages. A channel only writes ``verify``, ``parse``
and ``send``; everything here is the same for mail, chat and messengers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from opora.channels import service as channels_service
from opora.channels.base import (
    ChannelAdapter,
    DeliveryUpdate,
    InboundMessage,
    ReportsDelivery,
    UnparseablePayload,
)
from opora.channels.models import Channel
from opora.db import UnitOfWork
from opora.events import reactions
from opora.events.reactions import Fact
from opora.inbox import batch, delivery, repository
from opora.inbox.models import InboundPayload, PayloadState
from opora.jobs.service import complete_queued, enqueue
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.time import utcnow
from opora.privacy.masking import mask_cards
from opora.runtime import Runtime

log = logging.getLogger(__name__)

PROCESS_TASK = "inbox.process"
# Payloads handled in one transaction: batching is what lets the pipeline keep up with plain SQL.
BATCH_SIZE = 50
MAX_PAYLOAD_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    payload_id: int | None  # None: this (channel, external id) was stored before
    created: bool


# Later stages (routing, SLA, automation, the bot) subscribe here. A hook gets every message a
# batch stored, in the same transaction, so it can work set-based too.
InboundHook = Callable[[UnitOfWork, Runtime, list[batch.Ingested]], Awaitable[None]]
inbound_hooks: list[InboundHook] = []


def job_key(payload_id: int) -> str:
    return f"{PROCESS_TASK}:{payload_id}"


async def receive(
    uow: UnitOfWork,
    *,
    channel_id: int,
    external_id: str,
    payload: bytes,
    content_type: str,
    queue: bool = True,
) -> Received:
    """Store a raw payload once and queue its processing, in the caller's transaction.

    The channel may be acknowledged as soon as this commits: from then on nothing is lost.
    ``queue=False`` is for a caller that processes the payload in the same transaction with
    :func:`process_now` (and falls back to a queued receive if that fails).
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
    if queue:
        await enqueue(uow, PROCESS_TASK, {"payload_id": payload_id}, unique_key=job_key(payload_id))
    return Received(payload_id=payload_id, created=True)


async def process_now(
    uow: UnitOfWork, runtime: Runtime, payload_id: int, *, channel: Channel | None = None
) -> None:
    """Process a payload stored by this transaction with ``queue=False``, in this transaction.

    For a client that waits for the message to be live (the chat widget): the raw payload and
    its ticket message commit together, and the live events leave right after the commit, with
    no job hop; the reactions follow in a transaction of their own (ADR 0040). The pipeline is
    the job's (parse, identify, thread, hooks, quarantine of a payload that cannot be parsed);
    the per-channel lock keeps arrival order on PostgreSQL. An exception leaves the transaction
    unusable: the caller restarts it and stores the payload with its job instead (``receive``),
    so a failure here costs latency, never the message.

    The payload is this transaction's own (uncommitted, so no other transaction can hold it):
    it is read once, without the batch's locking read. ``channel``, when the caller has it (a
    read-only cached copy will do), saves reading it again.
    """
    row = await repository.get_payload(uow.session, payload_id)
    if row is None:
        return
    if not uow.is_sqlite:
        await repository.lock_channel_inbox(uow.session, row.channel_id)
    known = {channel.id: channel} if channel is not None and channel.id == row.channel_id else {}
    await _process_rows(uow, runtime, [row], isolate=False, channels=known)


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
    """Process this payload and up to ``batch_size - 1`` others of its channel; return how many.

    One channel's payloads are processed by one transaction at a time, in arrival order, so a
    reply never races the batch that holds its parent.

    The others' own jobs are completed in the same transaction, so each payload is processed once
    whichever job reaches it first. The batch first runs straight through; if anything breaks, it
    is redone with a savepoint per payload so that the one payload that breaks the code is
    quarantined with its error instead of failing the whole batch forever.
    """
    own = await repository.get_payload(uow.session, payload_id)
    if own is None:
        return 0
    if not uow.is_sqlite:
        await repository.lock_channel_inbox(uow.session, own.channel_id)
    others = await repository.next_received_ids(
        uow.session, channel_id=own.channel_id, exclude=payload_id, limit=batch_size - 1
    )
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
    updates: list[DeliveryUpdate] = field(default_factory=list)
    error: str | None = None


async def _process_batch(
    uow: UnitOfWork, runtime: Runtime, ids: list[int], *, isolate: bool
) -> list[InboundPayload]:
    rows = await repository.lock_received(uow.session, ids, skip_locked=not uow.is_sqlite)
    return await _process_rows(uow, runtime, rows, isolate=isolate)


async def _process_rows(
    uow: UnitOfWork,
    runtime: Runtime,
    rows: list[InboundPayload],
    *,
    isolate: bool,
    channels: dict[int, Channel] | None = None,
) -> list[InboundPayload]:
    rows = [row for row in rows if row.state == PayloadState.RECEIVED]
    parsed = await _parse_all(uow, runtime, rows, channels or {})
    groups = await _prepare(uow, parsed)
    ingested: list[batch.Ingested] = []
    facts: list[Fact] = []
    if not isolate:
        items = [item for _, items in groups for item in items]
        ingested = await batch.ingest(uow, runtime, items, facts=facts)
        for payload, items in groups:
            _done(payload.row, items, stored=bool(items or payload.updates))
    else:
        for payload, items in groups:
            ingested += await _ingest_alone(uow, runtime, payload, items, facts)
    for hook in inbound_hooks:
        await hook(uow, runtime, ingested)
    # The messages are stored; SLA, routing, rules, the bot and the figures react to them in the
    # next transaction, after agents have been told (ADR 0040).
    await reactions.defer(uow, facts)
    return rows


async def _prepare(uow: UnitOfWork, parsed: list[_Parsed]) -> list[tuple[_Parsed, list[batch.Item]]]:
    """Drop what is already stored, settle bounces, check senders; quarantine what cannot go on."""
    seen: dict[int, set[str]] = {}
    for channel_id in {p.channel.id for p in parsed if p.channel is not None}:
        wanted = [
            m.external_id for p in parsed if p.channel and p.channel.id == channel_id for m in p.messages
        ]
        seen[channel_id] = await repository.existing_external_ids(uow.session, channel_id, wanted)
    # Delivery reports about our own messages: applied here, in the payloads' transaction.
    await delivery.apply(
        uow, [(p.channel.id, u) for p in parsed if p.channel and p.error is None for u in p.updates]
    )
    groups: list[tuple[_Parsed, list[batch.Item]]] = []
    for payload in parsed:
        if payload.error is not None or payload.channel is None:
            _quarantine(payload.row, payload.error or "the channel no longer exists")
            continue
        channel, stored, items = payload.channel, seen[payload.channel.id], []
        for message in payload.messages:
            # The same provider message in another envelope (a redelivery) is stored once.
            if message.external_id in stored:
                continue
            stored.add(message.external_id)
            if bounce_of := message.metadata.get("bounce_of"):
                # A delivery report is about our mail, not a new conversation.
                reason = str(
                    message.metadata.get("bounce_reason") or "the recipient's server refused the message"
                )
                await repository.mark_bounced(uow.session, channel.id, str(bounce_of), reason[:2000])
                continue
            try:
                kind, value = batch.sender_identity(message)
            except InvalidInput as exc:
                payload.error = f"unusable sender: {exc.message}"
                break
            items.append(batch.Item(channel=channel, inbound=message, kind=kind, value=value))
        if payload.error is not None:
            _quarantine(payload.row, payload.error)
            continue
        groups.append((payload, items))
    return groups


async def _ingest_alone(
    uow: UnitOfWork, runtime: Runtime, payload: _Parsed, items: list[batch.Item], facts: list[Fact]
) -> list[batch.Ingested]:
    """One payload in its own savepoint: a failure quarantines it and spares the rest."""
    for attempt in (1, 2):
        mine: list[Fact] = []
        try:
            async with uow.session.begin_nested():
                ingested = await batch.ingest(uow, runtime, items, facts=mine)
        except TRANSIENT:
            raise
        except IntegrityError:
            # A concurrent transaction claimed one of the identities: the second look-up finds it.
            await uow.session.refresh(payload.row)
            if attempt == 1:
                continue
            _quarantine(payload.row, "processing failed: conflicting concurrent write")
            return []
        except Exception as exc:
            log.exception("inbound payload %s failed", payload.row.id)
            await uow.session.refresh(payload.row)
            _quarantine(payload.row, f"processing failed: {exc.__class__.__name__}: {exc}")
            return []
        _done(payload.row, items, stored=bool(items or payload.updates))
        facts.extend(mine)  # only what its savepoint kept
        return ingested
    return []


# What a processed payload keeps instead of its raw bytes when they carried a card number.
CARD_REDACTED = "[removed after processing: the payload carried a payment card number]"


def _done(row: InboundPayload, items: list[batch.Item], *, stored: bool) -> None:
    row.attempts += 1
    row.processed_at = utcnow()
    row.state = PayloadState.PROCESSED if stored else PayloadState.IGNORED
    row.error = None
    # The message rows hold the card masked; the raw copy must not keep it either (152-FZ, PCI DSS).
    # A processed payload is never parsed again, so it can lose its raw form; a quarantined one
    # keeps it for the retry.
    if any(_carries_card(item.inbound) for item in items):
        row.payload = CARD_REDACTED
        row.encoding = "utf-8"


def _carries_card(inbound: InboundMessage) -> bool:
    return any(part and mask_cards(part) != part for part in (inbound.text, inbound.html))


async def _parse_all(
    uow: UnitOfWork, runtime: Runtime, rows: list[InboundPayload], known: dict[int, Channel]
) -> list[_Parsed]:
    adapters: dict[int, ChannelAdapter | None] = {}
    broken: dict[int, str] = {}
    result: list[_Parsed] = []
    for row in rows:
        item = _Parsed(row)
        result.append(item)
        channel = known.get(row.channel_id) or await uow.session.get(Channel, row.channel_id)
        if channel is None:
            continue
        if channel.id not in adapters:
            try:
                adapters[channel.id] = channels_service.adapter_for(runtime, channel)
            # Secrets sealed with another OPORA_SECRET_KEY, or the channel package is not installed.
            except (ValueError, LookupError) as exc:
                adapters[channel.id] = None
                broken[channel.id] = str(exc)
        item.channel = channel
        if adapters[channel.id] is None:
            item.error = (
                broken.get(channel.id) or f"no adapter is installed for channel type {channel.type!r}"
            )
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
            if isinstance(adapter, ReportsDelivery):
                item.updates = adapter.parse_updates(raw_bytes(item.row), item.row.content_type)
        except UnparseablePayload as exc:
            item.error = f"unparseable: {exc}"
        except Exception as exc:  # a parser bug on odd input must not block the queue
            item.error = f"parser error: {exc.__class__.__name__}: {exc}"


def _quarantine(row: InboundPayload, error: str) -> None:
    row.state = PayloadState.QUARANTINED
    row.error = error[:4000]
    row.attempts += 1
    row.processed_at = utcnow()


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
