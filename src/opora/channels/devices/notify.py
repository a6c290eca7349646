"""Telling the customer about a device problem before they write: words and the channel to use."""

from __future__ import annotations

from opora.channels.devices import repository
from opora.channels.models import Channel
from opora.db import UnitOfWork
from opora.events.service import SYSTEM
from opora.kit.time import utcnow
from opora.tickets.models import AuthorType, DeliveryStatus, Direction, Message, Ticket
from opora.tickets.service import announce_message

# Channels that cannot carry a written notice to a customer.
SILENT_TYPES = ("device", "telephony", "webform", "api")

NOTICE = {
    "ru": (
        "Здравствуйте! Мы заметили неполадку с вашим устройством {device}: {problem}. "
        "Мы уже занимаемся ею, номер обращения #{number}. Если нужна помощь, просто ответьте на это "
        "сообщение."
    ),
    "en": (
        "Hello! We noticed a problem with your device {device}: {problem}. "
        "We are already looking into it, request #{number}. If you need help, just reply to this message."
    ),
}


def notice_text(language: str, *, device: str, code: str, text: str, number: int) -> str:
    problem = f"{code} ({text.strip()})" if text.strip() else code
    return NOTICE.get(language, NOTICE["ru"]).format(device=device, problem=problem, number=number)


async def reply_channel(uow: UnitOfWork, customer_id: int) -> Channel | None:
    """The customer's most recent channel that can reply; else mail, when we know their address."""
    recent = await repository.recent_reply_channel(uow.session, customer_id, SILENT_TYPES)
    if recent is not None:
        return recent
    if await repository.identity_value(uow.session, customer_id, "email") is None:
        return None
    return await repository.first_active_channel(uow.session, "email")


async def notify(uow: UnitOfWork, ticket: Ticket, channel: Channel, text: str, meta: dict[str, str]) -> int:
    """A public message on ``channel``, queued for the outbox like an agent's reply."""
    message = await repository.add_message(
        uow.session,
        Message(
            ticket_id=ticket.id,
            direction=Direction.OUT,
            author_type=AuthorType.SYSTEM,
            is_internal=False,
            text=text,
            channel_type=channel.type,
            channel_id=channel.id,
            delivery_status=DeliveryStatus.QUEUED,
            # Machine-made: mail goes out Auto-Submitted, so autoresponders do not answer it.
            metadata_={"kind": "device_notice", "automatic": True, **meta},
            created_at=utcnow(),
        ),
    )
    await announce_message(uow, message, SYSTEM, team_id=ticket.team_id, assignee_id=ticket.assignee_id)
    return message.id
