"""Delivering agent replies on the customer's channel.

The send happens between two transactions: a short one reads what to send, the job's own one
records the outcome. No database lock is held while a provider answers. A crash between the send
and the commit sends again on retry; the idempotency key (the message id) lets providers, and
mail clients through the fixed Message-ID, drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opora.channels import service as channels_service
from opora.channels.base import ChannelAdapter, DeliveryResult, OutboundAttachment, OutboundMessage
from opora.channels.models import Channel
from opora.customers.models import IdentityKind
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM
from opora.jobs.errors import RetryAfter
from opora.outbox import repository
from opora.runtime import Runtime
from opora.tickets.models import DeliveryStatus, Message, Ticket

log = logging.getLogger(__name__)

REFERENCES_LIMIT = 20


class RetryLater(Exception):
    """The provider failed temporarily; the job queue retries with backoff."""


@dataclass(frozen=True)
class Prepared:
    channel: Channel
    outbound: OutboundMessage


async def prepare(runtime: Runtime, message_id: int) -> Prepared | DeliveryResult | None:
    """What to send, or a final failure, or None when there is nothing (left) to do."""
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, message_id)
        if message is None or message.delivery_status != DeliveryStatus.QUEUED:
            return None
        ticket = await uow.session.get(Ticket, message.ticket_id)
        channel = await uow.session.get(Channel, message.channel_id) if message.channel_id else None
        if ticket is None or channel is None:
            return DeliveryResult.failed("the ticket's channel no longer exists", retriable=False)
        if not channel.is_active:
            return DeliveryResult.failed(f"channel {channel.name!r} is deactivated", retriable=False)
        answered = await repository.last_inbound(uow.session, ticket.id, channel.id)
        sender = (answered.metadata_ or {}).get("sender", {}) if answered else {}
        kind = sender.get("kind") or _kind_for(channel.type)
        recipient = sender.get("value") or await repository.identity_of(uow.session, ticket.customer_id, kind)
        if not recipient:
            return DeliveryResult.failed(f"the customer has no {kind} address to reply to", retriable=False)
        files = []
        for item in await repository.attachments(uow.session, message.id):
            data = await asyncio.to_thread(runtime.storage.get, item.sha256)
            files.append(
                OutboundAttachment(
                    filename=item.filename, content_type=item.content_type, data=data, sha256=item.sha256
                )
            )
        outbound = OutboundMessage(
            idempotency_key=f"opora-message-{message.id}",
            recipient_kind=IdentityKind(kind),
            recipient_value=recipient,
            text=message.text,
            html=message.html,
            subject=ticket.subject,
            attachments=tuple(files),
            reply_to=answered.external_id if answered else None,
            ticket_id=ticket.id,
            message_id=message.id,
            metadata={
                "references": await repository.thread_ids(
                    uow.session, ticket.id, channel.id, REFERENCES_LIMIT
                ),
                "ticket_number": ticket.id,
                # Auto-acknowledgements and other machine replies: the email channel marks them
                # Auto-Submitted so that the customer's autoresponder does not answer back.
                "automatic": bool((message.metadata_ or {}).get("automatic")),
                # The bot's "did this help?" buttons: [[label, payload], ...]; channels without
                # buttons ignore them (the text asks for a written answer there).
                "quick_replies": list((message.metadata_ or {}).get("quick_replies") or []),
                # Parts of this reply an earlier attempt already delivered (DeliveryResult).
                "parts_sent": (message.metadata_ or {}).get("parts_sent", 0),
                "first_part_id": (message.metadata_ or {}).get("first_part_id"),
            },
        )
        return Prepared(channel=channel, outbound=outbound)


def _kind_for(channel_type: str) -> str:
    return channel_type if channel_type in IdentityKind.__members__.values() else IdentityKind.EMAIL


async def deliver(uow: UnitOfWork, runtime: Runtime, message_id: int, *, last_attempt: bool) -> None:
    prepared = await prepare(runtime, message_id)
    if prepared is None:
        return
    if isinstance(prepared, DeliveryResult):
        await record(uow, message_id, prepared)
        return
    adapter = channels_service.adapter_for(runtime, prepared.channel)
    if adapter is None:
        await record(
            uow, message_id, DeliveryResult.failed("this channel cannot send replies", retriable=False)
        )
        return

    async def keep_progress(failed: DeliveryResult) -> None:
        await _keep_progress(runtime, message_id, prepared.outbound, failed)

    result = await send_once(
        adapter,
        prepared.outbound,
        what=f"message {message_id}",
        last_attempt=last_attempt,
        before_retry=keep_progress,
    )
    await record(uow, message_id, result)


async def _keep_progress(
    runtime: Runtime, message_id: int, outbound: OutboundMessage, failed: DeliveryResult
) -> None:
    """Before a retry, note the parts of a reply that reached the customer. The job's own
    transaction rolls back for the retry; this is what the provider already shows, true whatever
    happens next, so it is kept in a transaction of its own (like ``prepare``'s reads)."""
    if failed.parts_sent <= _parts(outbound.metadata):
        return
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, message_id, with_for_update=not uow.is_sqlite)
        if message is None or message.delivery_status != DeliveryStatus.QUEUED:
            return
        message.metadata_ = {
            **(message.metadata_ or {}),
            "parts_sent": failed.parts_sent,
            "first_part_id": failed.provider_message_id,
        }


def _parts(metadata: Mapping[str, Any]) -> int:
    value = metadata.get("parts_sent")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def send_once(
    adapter: ChannelAdapter,
    outbound: OutboundMessage,
    *,
    what: str,
    last_attempt: bool,
    before_retry: Callable[[DeliveryResult], Awaitable[None]] | None = None,
) -> DeliveryResult:
    """One send through ``adapter``. A temporary failure raises for the job queue to retry (with
    backoff, or when the provider asked us to come back) unless this was the last attempt; then,
    like every final outcome, it is returned for the caller to record."""
    try:
        result = await adapter.send(outbound)
    except Exception as exc:  # an adapter bug or a network error: treat as temporary
        log.exception("send of %s raised", what)
        result = DeliveryResult.failed(f"{exc.__class__.__name__}: {exc}", retriable=True)
    if not result.ok and result.retriable and not last_attempt:
        if before_retry is not None:
            await before_retry(result)
        # Nothing was written yet, so nothing needs rolling back before the retry.
        if result.retry_after is not None:
            raise RetryAfter(result.retry_after, result.error or "rate limited")
        raise RetryLater(result.error or "temporary failure")
    return result


async def record(uow: UnitOfWork, message_id: int, result: DeliveryResult) -> None:
    message = await uow.session.get(Message, message_id, with_for_update=not uow.is_sqlite)
    if message is None or message.delivery_status != DeliveryStatus.QUEUED:
        return
    ticket = await uow.session.get(Ticket, message.ticket_id)
    if result.ok:
        message.delivery_status = DeliveryStatus.SENT
        message.external_id = result.provider_message_id or message.external_id
        message.delivery_error = None
    else:
        message.delivery_status = DeliveryStatus.FAILED
        message.delivery_error = (result.error or "failed")[:2000]
    await events.record(
        uow,
        ticket_id=message.ticket_id,
        kind="message_delivery",
        actor=SYSTEM,
        data={"message_id": message.id, "status": message.delivery_status, "error": message.delivery_error},
        team_id=ticket.team_id if ticket else None,
        assignee_id=ticket.assignee_id if ticket else None,
    )
