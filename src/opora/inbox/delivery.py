"""Delivery reports from providers (sent, delivered, read, failed) applied to our sent messages.

Providers do not promise order: a "read" may arrive before its "delivered", and a report may be
redelivered. So a report only ever moves a message forward (:func:`advances`), which makes
applying the same reports twice, or in any order, end in the same state.
"""

from __future__ import annotations

from collections.abc import Sequence

from opora.channels.base import DeliveryState, DeliveryUpdate
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM
from opora.inbox import repository
from opora.tickets.models import DeliveryStatus

_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}
MAX_ERROR = 2000


def advances(current: str, reported: DeliveryState) -> bool:
    """Whether a report changes a message in state ``current``. Read and failed are final; a
    failure report after the customer's phone confirmed delivery is noise."""
    if current not in _RANK:
        return False
    if reported == DeliveryState.FAILED:
        return _RANK[DeliveryStatus(current)] <= _RANK[DeliveryStatus.SENT]
    return _RANK[DeliveryStatus(reported.value)] > _RANK[DeliveryStatus(current)]


async def apply(uow: UnitOfWork, updates: Sequence[tuple[int, DeliveryUpdate]]) -> int:
    """Apply (channel id, report) pairs; returns how many messages changed.

    A report about a message we do not know (sent by another tool on the same account, or whose
    send has not committed yet) changes nothing.
    """
    refs = [(channel_id, u.provider_message_id) for channel_id, u in updates]
    found = await repository.outbound_by_provider_id(uow.session, refs)
    by_ref = {(m.channel_id, m.external_id): (m, team, assignee) for m, team, assignee in found}
    changed = 0
    for channel_id, update in updates:
        hit = by_ref.get((channel_id, update.provider_message_id))
        if hit is None:
            continue
        message, team_id, assignee_id = hit
        if not advances(message.delivery_status, update.state):
            continue
        message.delivery_status = update.state.value
        if update.state == DeliveryState.FAILED:
            message.delivery_error = (update.error or "the provider reported a failure")[:MAX_ERROR]
        changed += 1
        await events.record(
            uow,
            ticket_id=message.ticket_id,
            kind="message_delivery",
            actor=SYSTEM,
            data={
                "message_id": message.id,
                "status": message.delivery_status,
                "error": message.delivery_error,
            },
            team_id=team_id,
            assignee_id=assignee_id,
        )
    return changed
