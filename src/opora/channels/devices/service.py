"""Device events: store (the request), then decide and act (a job).

The request stores the event once per (channel, event id) and queues its processing, so a device
that repeats itself is told "duplicate" and nothing is lost. The job applies the channel's rules;
an event that passes opens a proactive ticket, or joins the open ticket of the same device and
code, through the inbox's ingest so that customers, tickets and events are made exactly as for
any channel. A new ticket gets its priority from the severity and a notice to the customer.
"""

from __future__ import annotations

from typing import Any

from opora.channels.base import InboundMessage
from opora.channels.devices import notify, repository
from opora.channels.devices.models import DeviceAlert, DeviceEvent, EventState
from opora.channels.devices.rules import load_rules, opens_ticket, priority_for
from opora.channels.devices.schemas import DeviceEventIn
from opora.channels.models import Channel
from opora.customers import identity
from opora.customers.models import IdentityKind
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, change
from opora.inbox import batch
from opora.inbox import service as inbox
from opora.jobs.service import enqueue
from opora.kit.errors import InvalidInput
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets import repository as tickets_repository
from opora.tickets.lifecycle import Status
from opora.tickets.models import Ticket

PROCESS_TASK = "devices.process"
DEVICE_TAG = "device"
FINISHED = (Status.SOLVED, Status.CLOSED)

SUBJECT = {"ru": "Устройство {device}: {code}", "en": "Device {device}: {code}"}
LINE = {
    "ru": "Событие устройства {device}: [{severity}] {code}",
    "en": "Device {device} event: [{severity}] {code}",
}


async def receive(uow: UnitOfWork, channel: Channel, event: DeviceEventIn) -> bool:
    """Store the event and queue it; False for an event id stored before."""
    row_id = await repository.insert_event(
        uow.session,
        {
            "channel_id": channel.id,
            "event_id": event.event_id,
            "device_id": event.device_id,
            "customer_kind": _first_kind(event),
            "customer_value": _first_value(event),
            "severity": event.severity,
            "code": event.code,
            "text": event.text,
            "data": {"customer": event.customer.model_dump(exclude_none=True), "data": event.data},
            "occurred_at": event.occurred_at,
            "received_at": utcnow(),
            "state": EventState.RECEIVED,
        },
    )
    if row_id is None:
        return False
    await enqueue(uow, PROCESS_TASK, {"event": row_id}, unique_key=f"{PROCESS_TASK}:{row_id}")
    return True


def _first_kind(event: DeviceEventIn) -> str:
    ref = event.customer
    return "email" if ref.email else "phone" if ref.phone else "shop"


def _first_value(event: DeviceEventIn) -> str:
    ref = event.customer
    return (ref.email or ref.phone or ref.external_id or "")[:320]


def candidates(customer: dict[str, Any]) -> list[tuple[str, str]]:
    """The usable identities of a customer reference, normalised, in the order they are tried."""
    result = []
    for key, kind in (
        ("external_id", IdentityKind.SHOP),
        ("email", IdentityKind.EMAIL),
        ("phone", IdentityKind.PHONE),
    ):
        value = customer.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            result.append((str(kind), identity.normalize_value(kind, value)))
        except InvalidInput:
            continue
    return result


async def process(uow: UnitOfWork, runtime: Runtime, row_id: int) -> None:
    channel_id = await repository.channel_of_event(uow.session, row_id)
    if channel_id is None:
        return
    if not uow.is_sqlite:
        await repository.lock_channel(uow.session, channel_id)
    event = await repository.get_event(uow.session, row_id)
    channel = await uow.session.get(Channel, channel_id)
    if event is None or channel is None or event.state != EventState.RECEIVED:
        return
    try:
        rules = load_rules(channel.settings.get("rules"))
    except ValueError:
        rules = ()
    if not opens_ticket(rules, event.severity, event.code):
        event.state = EventState.IGNORED
        return
    refs = candidates(event.data.get("customer") or {})
    if not refs:
        event.state, event.error = EventState.QUARANTINED, "no usable customer reference"
        return
    known = await repository.owners(uow.session, refs)
    kind, value = next((pair for pair in refs if pair in known), refs[0])
    others = [pair for pair in refs if pair not in known and pair != (kind, value)]
    await _ingest(uow, runtime, channel, event, (kind, value), others)


async def _ingest(
    uow: UnitOfWork,
    runtime: Runtime,
    channel: Channel,
    event: DeviceEvent,
    sender: tuple[str, str],
    others: list[tuple[str, str]],
) -> None:
    kind, value = sender
    language = str(channel.settings.get("language", "ru"))
    words = {"device": event.device_id, "code": event.code, "severity": event.severity}
    open_ticket = await _open_alert_ticket(uow, channel.id, event)
    text = LINE.get(language, LINE["ru"]).format(**words)
    metadata: dict[str, Any] = {
        "kind": "device",
        "device": {
            "device_id": event.device_id,
            "code": event.code,
            "severity": event.severity,
            "event_id": event.event_id,
            "data": event.data.get("data") or {},
        },
        "language": language,
        "continues_conversation": False,
        "no_auto_reply": True,
    }
    if open_ticket is not None:
        metadata["ticket_number"] = open_ticket.id
    inbound = InboundMessage(
        external_id=f"device:{event.event_id}",
        sender_kind=IdentityKind(kind),
        sender_value=value,
        text=f"{text}\n{event.text}".strip(),
        subject=SUBJECT.get(language, SUBJECT["ru"]).format(**words)[:500],
        sent_at=event.occurred_at,
        metadata=metadata,
    )
    ingested = await batch.ingest(
        uow, runtime, [batch.Item(channel=channel, inbound=inbound, kind=kind, value=value)]
    )
    item = ingested[0]
    # The other references file the same customer from now on (nobody owns them yet), so the
    # notice below can use the e-mail even when the device named the shop's customer id first.
    for other_kind, other_value in others:
        await repository.add_identity(uow.session, item.customer_id, other_kind, other_value)
    ticket = await repository.get_ticket(uow.session, item.ticket_id)
    assert ticket is not None
    event.ticket_id = ticket.id
    event.state = EventState.OPENED if item.new_ticket else EventState.ADDED
    notified = None
    if item.new_ticket:
        await _remember(uow, channel.id, event, ticket.id)
        await _prioritise(uow, ticket, event.severity)
        if channel.settings.get("notify", True):
            notified = await _notify(uow, ticket, item.customer_id, event, language)
    else:
        await _prioritise(uow, ticket, event.severity)
    # The event itself, for automation rules and the ticket's history.
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind="device_event",
        actor=SYSTEM,
        data={**words, "event_id": event.event_id, "opened": item.new_ticket, "notice_message_id": notified},
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )
    for hook in inbox.inbound_hooks:
        await hook(uow, runtime, ingested)


async def _open_alert_ticket(uow: UnitOfWork, channel_id: int, event: DeviceEvent) -> Ticket | None:
    alert = await repository.get_alert(uow.session, channel_id, event.device_id, event.code)
    if alert is None:
        return None
    ticket = await repository.get_ticket(uow.session, alert.ticket_id)
    if ticket is not None and ticket.merged_into_id is not None:
        ticket = await repository.get_ticket(uow.session, ticket.merged_into_id)
    if ticket is None or Status(ticket.status) in FINISHED:
        return None
    return ticket


async def _remember(uow: UnitOfWork, channel_id: int, event: DeviceEvent, ticket_id: int) -> None:
    alert = await repository.get_alert(uow.session, channel_id, event.device_id, event.code)
    if alert is None:
        await repository.add_alert(
            uow.session,
            DeviceAlert(
                channel_id=channel_id,
                device_id=event.device_id,
                code=event.code,
                ticket_id=ticket_id,
                updated_at=utcnow(),
            ),
        )
    else:
        alert.ticket_id, alert.updated_at = ticket_id, utcnow()
    tags = (await tickets_repository.tags_of(uow.session, [ticket_id]))[ticket_id]
    if DEVICE_TAG not in tags:
        new = sorted({*tags, DEVICE_TAG})
        await tickets_repository.set_tags(uow.session, ticket_id, new)
        ticket = await repository.get_ticket(uow.session, ticket_id)
        assert ticket is not None
        await _record(uow, ticket, "tags_changed", {"tags": change(tags, new)})


_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


async def _prioritise(uow: UnitOfWork, ticket: Ticket, severity: str) -> None:
    """Raise, never lower: an agent may have raised it already, and a later warning is no news."""
    wanted = priority_for(severity)
    if _PRIORITY_RANK[wanted] > _PRIORITY_RANK.get(ticket.priority, 1):
        old, ticket.priority = ticket.priority, wanted
        await _record(uow, ticket, "priority_changed", {"priority": change(old, wanted)})


async def _notify(
    uow: UnitOfWork, ticket: Ticket, customer_id: int, event: DeviceEvent, fallback: str
) -> int | None:
    channel = await notify.reply_channel(uow, customer_id)
    if channel is None:
        return None
    customer = await repository.get_customer(uow.session, customer_id)
    language = customer.language if customer and customer.language in ("ru", "en") else fallback
    text = notify.notice_text(
        language, device=event.device_id, code=event.code, text=event.text, number=ticket.id
    )
    return await notify.notify(uow, ticket, channel, text, {"device_id": event.device_id, "code": event.code})


async def _record(uow: UnitOfWork, ticket: Ticket, kind: str, data: dict[str, Any]) -> None:
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=kind,
        actor=SYSTEM,
        data=data,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )
