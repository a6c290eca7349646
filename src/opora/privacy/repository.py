"""All SQL of personal-data handling: reading everything about a customer, and scrubbing it.

Erasure reaches into other modules' tables on purpose: this is the one place that knows where a
customer's personal data lives. A new table holding customer text must be added here (and to the
erasure test, which searches the whole database for the erased values).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opora.assist.models import SolvedDoc, SolvedTerm
from opora.automation.models import WebhookDelivery
from opora.channels.devices.models import DeviceEvent
from opora.channels.webchat.models import WebchatVisitor
from opora.channels.webform.models import WebformSubmission
from opora.customers.models import (
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerNote,
    CustomerTag,
    SegmentChange,
)
from opora.events.models import TicketEvent
from opora.inbox.models import InboundPayload
from opora.notifications.models import Notification
from opora.portal.models import PortalLogin
from opora.privacy.models import Erasure, RetentionPolicy, TicketRedaction
from opora.shop.models import Order
from opora.tickets.models import Attachment, Message, Ticket

ERASED = ""
# Ticket events whose data repeats texts people wrote (the old and new subject, field values).
TEXT_EVENTS = ("subject_changed", "fields_changed", "ticket_created")


async def group_ids(session: AsyncSession, customer_id: int) -> list[int]:
    """The customer and every record merged into it: one person."""
    rows = await session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))
    return [customer_id, *rows.all()]


async def identities(session: AsyncSession, customer_ids: Sequence[int]) -> Sequence[CustomerIdentity]:
    query = (
        select(CustomerIdentity)
        .where(CustomerIdentity.customer_id.in_(customer_ids))
        .order_by(CustomerIdentity.id)
    )
    return (await session.scalars(query)).all()


async def tickets_of(session: AsyncSession, customer_ids: Sequence[int]) -> Sequence[Ticket]:
    return (
        await session.scalars(select(Ticket).where(Ticket.customer_id.in_(customer_ids)).order_by(Ticket.id))
    ).all()


async def messages_of(session: AsyncSession, ticket_ids: Sequence[int]) -> Sequence[Message]:
    if not ticket_ids:
        return []
    return (
        await session.scalars(select(Message).where(Message.ticket_id.in_(ticket_ids)).order_by(Message.id))
    ).all()


async def attachments_of(session: AsyncSession, message_ids: Sequence[int]) -> Sequence[Attachment]:
    if not message_ids:
        return []
    query = select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
    return (await session.scalars(query)).all()


async def orders_of(session: AsyncSession, customer_ids: Sequence[int]) -> Sequence[Order]:
    return (
        await session.scalars(select(Order).where(Order.customer_id.in_(customer_ids)).order_by(Order.id))
    ).all()


async def notes_of(session: AsyncSession, customer_ids: Sequence[int]) -> Sequence[CustomerNote]:
    query = select(CustomerNote).where(CustomerNote.customer_id.in_(customer_ids)).order_by(CustomerNote.id)
    return (await session.scalars(query)).all()


async def segment_changes_of(session: AsyncSession, customer_ids: Sequence[int]) -> Sequence[SegmentChange]:
    query = (
        select(SegmentChange).where(SegmentChange.customer_id.in_(customer_ids)).order_by(SegmentChange.id)
    )
    return (await session.scalars(query)).all()


async def tags_of(session: AsyncSession, customer_ids: Sequence[int]) -> list[str]:
    rows = await session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id.in_(customer_ids)))
    return sorted(set(rows.all()))


async def redact_tickets(
    session: AsyncSession, ticket_ids: Sequence[int], reason: str
) -> tuple[int, list[str]]:
    """Blank every text of these tickets; return (messages redacted, sha256 of files now unreferenced)."""
    if not ticket_ids:
        return 0, []
    messages = await messages_of(session, ticket_ids)
    message_ids = [m.id for m in messages]
    files = await attachments_of(session, message_ids)
    digests = sorted({f.sha256 for f in files})
    sources = [(m.channel_id, m.external_id) for m in messages if m.channel_id is not None and m.external_id]
    for start in range(0, len(sources), 500):
        chunk = sources[start : start + 500]
        await session.execute(
            update(InboundPayload)
            .where(
                or_(
                    *(and_(InboundPayload.channel_id == c, InboundPayload.external_id == e) for c, e in chunk)
                )
            )
            .values(payload=ERASED, error=None)
        )
    if files:
        await session.execute(delete(Attachment).where(Attachment.id.in_([f.id for f in files])))
    await session.execute(
        update(Message)
        .where(Message.ticket_id.in_(ticket_ids))
        .values(text=ERASED, html=None, metadata_={}, delivery_error=None)
    )
    await session.execute(
        update(Ticket).where(Ticket.id.in_(ticket_ids)).values(subject=ERASED, custom_fields={})
    )
    # The similar-tickets index holds the customer's words as stems: they go with the text.
    await session.execute(delete(SolvedTerm).where(SolvedTerm.ticket_id.in_(ticket_ids)))
    await session.execute(delete(SolvedDoc).where(SolvedDoc.ticket_id.in_(ticket_ids)))
    await session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.kind.in_(TEXT_EVENTS))
        .values(data={})
    )
    await session.execute(
        update(Notification).where(Notification.ticket_id.in_(ticket_ids)).values(snippet=ERASED)
    )
    await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.ticket_id.in_(ticket_ids)).values(payload={})
    )
    await session.execute(
        update(DeviceEvent)
        .where(DeviceEvent.ticket_id.in_(ticket_ids))
        .values(text=ERASED, data={}, customer_value=ERASED)
    )
    done = set(
        (
            await session.scalars(
                select(TicketRedaction.ticket_id).where(TicketRedaction.ticket_id.in_(ticket_ids))
            )
        ).all()
    )
    session.add_all([TicketRedaction(ticket_id=t, reason=reason) for t in ticket_ids if t not in done])
    await session.flush()
    unreferenced = []
    for digest in digests:
        if not await session.scalar(select(exists().where(Attachment.sha256 == digest))):
            unreferenced.append(digest)
    return len(messages), unreferenced


async def scrub_identities(session: AsyncSession, customer_ids: Sequence[int], values: Sequence[str]) -> None:
    """Channel tables that hold an identity value without a customer id."""
    if values:
        await session.execute(
            update(WebchatVisitor)
            .where(or_(WebchatVisitor.email.in_(values), WebchatVisitor.signed_as.in_(values)))
            .values(email=None, signed_as=None)
        )
        await session.execute(
            update(WebformSubmission).where(WebformSubmission.email.in_(values)).values(email=None, ip=ERASED)
        )
        await session.execute(
            update(DeviceEvent)
            .where(DeviceEvent.customer_value.in_(values))
            .values(customer_value=ERASED, text=ERASED)
        )
    await session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id.in_(customer_ids)))
    # Portal sign-ins hold the address and any open portal session: both go.
    await session.execute(delete(PortalLogin).where(PortalLogin.customer_id.in_(customer_ids)))
    await session.execute(delete(CustomerNote).where(CustomerNote.customer_id.in_(customer_ids)))
    await session.execute(delete(CustomerTag).where(CustomerTag.customer_id.in_(customer_ids)))
    # Merge records keep profile values absorbed from the other record.
    await session.execute(
        delete(CustomerMerge).where(
            or_(CustomerMerge.survivor_id.in_(customer_ids), CustomerMerge.merged_id.in_(customer_ids))
        )
    )
    await session.execute(
        update(Order)
        .where(Order.customer_id.in_(customer_ids))
        .values(tracking_number=ERASED, tracking_url=ERASED)
    )
    await session.execute(
        update(Customer)
        .where(Customer.id.in_(customer_ids))
        .values(name=ERASED, custom_fields={}, timezone=None)
    )


async def add_erasure(session: AsyncSession, erasure: Erasure) -> None:
    session.add(erasure)
    await session.flush()


async def erasures(session: AsyncSession, customer_id: int) -> Sequence[Erasure]:
    return (await session.scalars(select(Erasure).where(Erasure.customer_id == customer_id))).all()


async def retention(session: AsyncSession) -> RetentionPolicy | None:
    return await session.get(RetentionPolicy, 1)


async def save_retention(session: AsyncSession, months: int | None, now: datetime) -> RetentionPolicy:
    row = await session.get(RetentionPolicy, 1)
    if row is None:
        row = RetentionPolicy(id=1)
        session.add(row)
    row.closed_ticket_months = months
    row.updated_at = now
    await session.flush()
    return row


async def expired_tickets(session: AsyncSession, closed_before: datetime, *, limit: int) -> list[int]:
    """Closed tickets past retention whose texts are still there."""
    query = (
        select(Ticket.id)
        .where(
            Ticket.status == "closed",
            Ticket.closed_at < closed_before,
            ~exists().where(TicketRedaction.ticket_id == Ticket.id),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
