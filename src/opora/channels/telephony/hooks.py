"""What the inbox pipeline cannot know from one call: the ticket it joined.

Runs as an inbox hook in the batch's transaction, set-based (two queries a batch, whatever its
size): a missed call makes its ticket a high-priority "callback" ticket, and a call that joined a
ticket in the other language is re-worded in the ticket's language.
"""

from __future__ import annotations

from typing import Any

from opora.channels.telephony import repository
from opora.channels.telephony.calls import Call, CallEvent, summary
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, change
from opora.inbox.batch import Ingested
from opora.runtime import Runtime
from opora.tickets import repository as tickets_repository
from opora.tickets.models import Priority, Ticket

CALLBACK_TAG = "callback"
_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


async def after_ingest(uow: UnitOfWork, _runtime: Runtime, ingested: list[Ingested]) -> None:
    calls = [item for item in ingested if item.inbound.metadata.get("kind") == "call"]
    if not calls:
        return
    tickets = await repository.tickets_by_id(uow.session, [item.ticket_id for item in calls])
    missed = {item.ticket_id for item in calls if _call(item).event == CallEvent.MISSED}
    tags = await tickets_repository.tags_of(uow.session, sorted(missed))
    for ticket_id in sorted(missed):
        ticket = tickets[ticket_id]
        if _RANK.get(Priority(ticket.priority), 1) < _RANK[Priority.HIGH]:
            old, ticket.priority = ticket.priority, Priority.HIGH
            await _record(uow, ticket, "priority_changed", {"priority": change(old, Priority.HIGH)})
        if CALLBACK_TAG not in tags[ticket_id]:
            new_tags = sorted({*tags[ticket_id], CALLBACK_TAG})
            await tickets_repository.set_tags(uow.session, ticket_id, new_tags)
            await _record(uow, ticket, "tags_changed", {"tags": change(tags[ticket_id], new_tags)})
    await _reword(uow, calls, tickets)


async def _reword(uow: UnitOfWork, calls: list[Ingested], tickets: dict[int, Ticket]) -> None:
    """A call joining a ticket kept in the other language reads in the ticket's language."""
    wrong = {
        item.message_id: lang
        for item in calls
        if (lang := tickets[item.ticket_id].language) in ("ru", "en")
        and lang != item.inbound.metadata.get("language")
    }
    if not wrong:
        return
    messages = await repository.messages_by_id(uow.session, list(wrong))
    for message_id, message in messages.items():
        call = Call.from_metadata(message.metadata_.get("call") or {})
        message.text, message.html = summary(call, wrong[message_id])
        message.metadata_ = {**message.metadata_, "language": wrong[message_id]}


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


def _call(item: Ingested) -> Call:
    return Call.from_metadata(item.inbound.metadata.get("call") or {})
