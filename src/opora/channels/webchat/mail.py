"""The conversation continues by e-mail: agents' chat replies mailed to visitors who left (ADR 0029).

A visitor who wrote in offline mode left an address and was promised an answer by mail; a
visitor the shop signed in has a verified one. When an agent answers such a visitor's chat,
:func:`plan` (a reaction, in the reply's transaction) queues a copy: at once if the visitor
last answered by mail, after 30 s if they wrote offline (they may still be on the page), otherwise
after ``email_after_seconds`` (default 120), and only if the visitor has not read the reply in
the widget by then. The copy goes out through
the desk's e-mail channel adapter, the same code path as any mail reply, with the ticket's
"[#N]" subject and a Message-ID recorded in ``webchat_email_copies``: a visitor's answer by mail
names it, and :func:`tickets_by_mail_id` (an inbox reference resolver) threads it onto the chat
ticket. That answer proves the visitor reads the address, so :func:`link_replies` then folds the
address's fresh customer record into the visitor's: one customer, one conversation.

The copy's state (queued, sent, failed, skipped) is kept on the reply's ``metadata.email_copy``
for the agent's timeline and announced with a ``message_delivery`` event (``via: "email"``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opora.channels import service as channels_service
from opora.channels.base import DeliveryResult, OutboundAttachment, OutboundMessage
from opora.channels.models import Channel
from opora.channels.webchat import repository
from opora.channels.webchat.models import WebchatEmailCopy
from opora.customers import identity as ident
from opora.customers import service as customers_service
from opora.customers.models import IdentityKind
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM
from opora.inbox.batch import Ingested
from opora.jobs.service import enqueue
from opora.kit.errors import InvalidInput
from opora.kit.time import utcnow
from opora.outbox import repository as outbox_repository
from opora.outbox import service as outbox_service
from opora.runtime import Runtime
from opora.tickets.models import DeliveryStatus, Message, Ticket

log = logging.getLogger(__name__)

MAIL_TASK = "webchat.email_reply"
DEFAULT_DELAY_SECONDS = 120
OFFLINE_GRACE_SECONDS = 30
MAX_DELAY_SECONDS = 86_400
REFERENCES_LIMIT = 20
MAX_ERROR = 2000

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"

SUBJECT = {"ru": "Ответ на ваше сообщение в чате «{name}»", "en": "Reply to your chat message to {name}"}
FOOTER = {
    "ru": "Вы писали нам в чате на сайте. Чтобы продолжить разговор, просто ответьте на это письмо.",
    "en": "You wrote to us in the chat on our website. To continue, simply reply to this e-mail.",
}


def delay_setting(settings: dict[str, Any] | Any) -> int:
    value = settings.get("email_after_seconds", DEFAULT_DELAY_SECONDS)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_DELAY_SECONDS


def check_settings(settings: Any) -> None:
    """The widget's own check_config calls this for the e-mail settings."""
    delay = settings.get("email_after_seconds")
    if delay is not None and not (
        isinstance(delay, int) and not isinstance(delay, bool) and 0 <= delay <= MAX_DELAY_SECONDS
    ):
        raise ValueError(f"settings.email_after_seconds must be 0 to {MAX_DELAY_SECONDS}")
    channel = settings.get("email_channel_id")
    if channel is not None and not (
        isinstance(channel, int) and not isinstance(channel, bool) and channel > 0
    ):
        raise ValueError("settings.email_channel_id must be the id of an e-mail channel")


def visitor_address(email: str | None, signed_as: str | None) -> str | None:
    """The address the visitor gave offline, else the one the shop signed; None without one."""
    for value in (email, signed_as):
        if value and "@" in value:
            try:
                return ident.normalize_email(value)
            except InvalidInput:
                continue
    return None


# -- planning, in the reply's transaction ---------------------------------------------------------


async def plan(uow: UnitOfWork, message_ids: Sequence[int]) -> None:
    for message, ticket, channel in await repository.chat_replies(uow.session, message_ids):
        await _plan_one(uow, message, ticket, channel)


async def _plan_one(uow: UnitOfWork, message: Message, ticket: Ticket, channel: Channel) -> None:
    if message.delivery_status == DeliveryStatus.FAILED:
        return
    answered = await repository.last_inbound(uow.session, ticket.id, channel.id)
    chat = (answered.metadata_ or {}).get("webchat") if answered else None
    if not isinstance(chat, dict) or not isinstance(chat.get("visitor"), str):
        return
    visitor = await repository.visitor_by_key(uow.session, chat["visitor"])
    address = visitor_address(visitor.email, visitor.signed_as) if visitor else None
    if address is None:
        return  # nobody to write to: the reply waits in the widget
    assert answered is not None
    latest = await repository.last_inbound(uow.session, ticket.id)
    by_mail = latest is not None and latest.channel_type == "email"
    offline = bool(answered.metadata_.get("offline"))
    mail_channel = await _mail_channel(uow.session, channel)
    copy = await repository.insert_copy(
        uow.session,
        WebchatEmailCopy(
            message_id=message.id,
            ticket_id=ticket.id,
            email_channel_id=mail_channel.id if mail_channel else None,
            address=address,
            status=QUEUED if mail_channel else FAILED,
            error=None if mail_channel else "no active e-mail channel to send the reply from",
            created_at=utcnow(),
        ),
    )
    _show(message, copy)
    if mail_channel is None:
        await _announce(uow, ticket, message, copy)
        return
    await enqueue(
        uow,
        MAIL_TASK,
        {"message_id": message.id},
        unique_key=f"{MAIL_TASK}:{message.id}",
        delay=timedelta(seconds=_delay(by_mail=by_mail, offline=offline, settings=channel.settings)),
    )


def _delay(*, by_mail: bool, offline: bool, settings: dict[str, Any]) -> int:
    """Seconds before the copy goes (and is skipped if the reply was read in the chat by then)."""
    if by_mail:
        return 0  # the conversation already continues by mail
    if offline:
        # Promised a mail, but may still be on the page: a reply pushed live is read within
        # seconds, and a mail sent at once would then be the same answer twice.
        return min(OFFLINE_GRACE_SECONDS, delay_setting(settings))
    return delay_setting(settings)


async def _mail_channel(session: AsyncSession, chat: Channel) -> Channel | None:
    wanted = chat.settings.get("email_channel_id")
    if isinstance(wanted, int):
        found = await session.get(Channel, wanted)
        return found if found is not None and found.is_active and found.type == "email" else None
    return await repository.first_active_channel(session, "email")


def _show(message: Message, copy: WebchatEmailCopy) -> None:
    # A new dict, so that the JSON column is seen as changed.
    message.metadata_ = {
        **(message.metadata_ or {}),
        "email_copy": {"to": copy.address, "status": copy.status, "error": copy.error},
    }


async def _announce(uow: UnitOfWork, ticket: Ticket, message: Message, copy: WebchatEmailCopy) -> None:
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind="message_delivery",
        actor=SYSTEM,
        data={"message_id": message.id, "status": copy.status, "error": copy.error, "via": "email"},
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


# -- the job ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    channel: Channel
    outbound: OutboundMessage


async def _prepare(runtime: Runtime, message_id: int) -> _Prepared | DeliveryResult | str | None:
    """What to mail; a final failure; ``SKIPPED`` when the visitor read it in the chat; or None
    when the copy is already settled."""
    async with runtime.db.uow() as uow:
        copy = await repository.copy_of(uow.session, message_id)
        message = await uow.session.get(Message, message_id)
        if copy is None or copy.status != QUEUED or message is None:
            return None
        if message.delivery_status == DeliveryStatus.READ:
            return SKIPPED
        ticket = await uow.session.get(Ticket, copy.ticket_id)
        channel = await uow.session.get(Channel, copy.email_channel_id) if copy.email_channel_id else None
        if ticket is None or channel is None or not channel.is_active:
            return DeliveryResult.failed("the e-mail channel is gone or deactivated", retriable=False)
        chat = await uow.session.get(Channel, message.channel_id) if message.channel_id else None
        visitor_msg = await repository.last_inbound(uow.session, ticket.id, chat.id if chat else None)
        language = (visitor_msg.metadata_ or {}).get("language") if visitor_msg else None
        language = (
            language if language in SUBJECT else (ticket.language if ticket.language in SUBJECT else "ru")
        )
        answered = await repository.last_inbound(uow.session, ticket.id, channel.id)
        files = []
        for item in await outbox_repository.attachments(uow.session, message.id):
            data = await asyncio.to_thread(runtime.storage.get, item.sha256)
            files.append(
                OutboundAttachment(filename=item.filename, content_type=item.content_type, data=data)
            )
        references = await repository.sent_mail_ids(uow.session, ticket.id, REFERENCES_LIMIT)
        if answered is not None and answered.external_id:
            references.append(answered.external_id)
        name = (chat.name if chat else "") or channel.name
        outbound = OutboundMessage(
            idempotency_key=f"opora-webchat-mail-{message.id}",
            recipient_kind=IdentityKind.EMAIL,
            recipient_value=copy.address,
            text=f"{message.text}\n\n--\n{FOOTER[language]}",
            subject=ticket.subject or SUBJECT[language].format(name=name),
            attachments=tuple(files),
            reply_to=answered.external_id if answered else None,
            ticket_id=ticket.id,
            message_id=message.id,
            metadata={"references": references, "ticket_number": ticket.id},
        )
        return _Prepared(channel=channel, outbound=outbound)


async def deliver(uow: UnitOfWork, runtime: Runtime, message_id: int, *, last_attempt: bool) -> None:
    prepared = await _prepare(runtime, message_id)
    if prepared is None:
        return
    if not isinstance(prepared, _Prepared):
        await record(uow, message_id, prepared)
        return
    adapter = channels_service.adapter_for(runtime, prepared.channel)
    if adapter is None:  # the e-mail package always has one; this keeps the type honest
        await record(uow, message_id, DeliveryResult.failed("no e-mail adapter", retriable=False))
        return
    result = await outbox_service.send_once(
        adapter,
        prepared.outbound,
        what=f"the e-mail copy of chat reply {message_id}",
        last_attempt=last_attempt,
    )
    await record(uow, message_id, result)


async def record(uow: UnitOfWork, message_id: int, outcome: DeliveryResult | str) -> None:
    copy = await repository.copy_of(uow.session, message_id, lock=not uow.is_sqlite)
    message = await uow.session.get(Message, message_id)
    if copy is None or copy.status != QUEUED or message is None:
        return
    if outcome == SKIPPED:
        copy.status, copy.error = SKIPPED, None
    elif isinstance(outcome, DeliveryResult) and outcome.ok:
        copy.status, copy.error = SENT, None
        copy.mail_id = outcome.provider_message_id
        copy.sent_at = utcnow()
    else:
        copy.status = FAILED
        error = outcome.error if isinstance(outcome, DeliveryResult) else None
        copy.error = (error or "failed")[:MAX_ERROR]
    _show(message, copy)
    ticket = await uow.session.get(Ticket, copy.ticket_id)
    if ticket is not None:
        await _announce(uow, ticket, message, copy)


# -- the visitor answers by mail -------------------------------------------------------------------


async def tickets_by_mail_id(
    session: AsyncSession, refs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    return await repository.tickets_by_mail_id(session, refs)


async def link_replies(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    """Inbox hook: a mail that answers a mailed chat reply, from the address it went to, proves
    the visitor reads that address. If the mail made a fresh customer record (no tickets, no
    other identity), that record folds into the visitor's; an older record of someone else is
    left alone for an agent to merge, since the address may be shared."""
    mail = [i for i in ingested if i.inbound.sender_kind == IdentityKind.EMAIL and not i.new_ticket]
    if not mail:
        return
    copies = await repository.copies_of_tickets(uow.session, sorted({i.ticket_id for i in mail}))
    addresses: dict[int, set[str]] = {}
    for copy in copies:
        if copy.status == SENT:
            addresses.setdefault(copy.ticket_id, set()).add(copy.address)
    for item in mail:
        try:
            sender = ident.normalize_email(item.inbound.sender_value)
        except InvalidInput:
            continue
        if sender not in addresses.get(item.ticket_id, set()):
            continue
        ticket = await uow.session.get(Ticket, item.ticket_id)
        if ticket is None:
            continue
        owner = await customers_service.resolve_customer(uow, ticket.customer_id)
        if owner.id == item.customer_id:
            continue
        fresh = await repository.ticket_count(
            uow.session, item.customer_id
        ) == 0 and await repository.identities(uow.session, item.customer_id) == [("email", sender)]
        if fresh:
            await customers_service.merge(uow, owner.id, item.customer_id)
