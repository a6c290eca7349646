"""Notifications react to ticket events in the transaction that recorded them (after rules)."""

from __future__ import annotations

from collections.abc import Sequence

from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor
from opora.notifications import service


@reactor("assigned", "message_added", "rule_notification", order=40, name="notifications.notify")
async def notify(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await service.notify_for(uow, facts)
