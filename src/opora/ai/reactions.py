"""Every inbound customer message is enriched in its own transaction (order 5: before SLA,
routing and rules, so that they see the topic, language and the ``ai-angry`` / ``ai-urgent`` tags).

Set-based: one query for the messages, one for the tickets, one for their tags, whatever the
batch size; the rules themselves are pure and take microseconds per message (bench/bot.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.ai import repository as repo
from opora.ai.enrich import Enrichment, enrich
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.reactions import Fact, reactor
from opora.events.service import Actor, change

AI = Actor("system")
ANGRY_TAG = "ai-angry"
URGENT_TAG = "ai-urgent"


def _merge(found: Sequence[Enrichment]) -> dict[str, Any]:
    """Ticket-level view of a ticket's new messages: the worst mood, every number seen."""
    last = found[-1]
    return {
        "ai_sentiment": "negative" if any(e.sentiment == "negative" for e in found) else last.sentiment,
        "ai_anger": max(e.anger for e in found),
        "ai_urgency": "high" if any(e.urgency == "high" for e in found) else "normal",
        "order_numbers": list(dict.fromkeys(n for e in found for n in e.order_numbers)),
        "phones": list(dict.fromkeys(p for e in found for p in e.phones)),
    }


@reactor("message_added", order=5, name="ai.enrich")
async def enrich_inbound(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    ids = [
        int(f.data["message_id"])
        for f in facts
        if f.data.get("direction") == "in" and not f.data.get("internal") and f.data.get("message_id")
    ]
    messages = [m for m in await repo.inbound_messages(uow.session, ids) if m.author_type == "customer"]
    if not messages:
        return
    by_ticket: dict[int, list[Enrichment]] = {}
    for message in messages:
        result = enrich(message.text or "")
        message.metadata_ = {
            **(message.metadata_ or {}),
            "ai": {
                "language": result.language,
                "sentiment": result.sentiment,
                "anger": result.anger,
                "urgency": result.urgency,
                "topic": result.topic,
                "order_numbers": list(result.order_numbers),
                "phones": list(result.phones),
            },
        }
        by_ticket.setdefault(message.ticket_id, []).append(result)
    tickets = await repo.tickets(uow.session, list(by_ticket))
    tags = await repo.tags_of(uow.session, list(tickets))
    for ticket_id, found in by_ticket.items():
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        await _apply(uow, ticket, found, tags[ticket_id])


async def _record(uow: UnitOfWork, ticket: Any, kind: str, data: dict[str, Any]) -> None:
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=kind,
        actor=AI,
        data={**data, "source": "ai"},
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


async def _apply(uow: UnitOfWork, ticket: Any, found: Sequence[Enrichment], tags: set[str]) -> None:
    topic = next((e.topic for e in reversed(found) if e.topic), None)
    if ticket.topic is None and topic:
        ticket.topic = topic
        await _record(uow, ticket, "topic_changed", {"topic": change(None, topic)})
    language = next((e.language for e in reversed(found) if e.language), None)
    if ticket.language is None and language:
        ticket.language = language
        await _record(uow, ticket, "language_changed", {"language": change(None, language)})
    merged = _merge(found)
    old = dict(ticket.custom_fields or {})
    for key in ("order_numbers", "phones"):
        merged[key] = list(dict.fromkeys([*old.get(key, []), *merged[key]]))
    fields = {**old, **merged}
    if fields != old:
        ticket.custom_fields = fields
        await _record(uow, ticket, "fields_changed", {"custom_fields": change(old, fields)})
    wanted = [
        t
        for t, on in ((ANGRY_TAG, any(e.angry for e in found)), (URGENT_TAG, merged["ai_urgency"] == "high"))
        if on
    ]
    new = [t for t in wanted if t not in tags]
    if new:
        repo.add_tags(uow.session, ticket.id, new)
        after = sorted(tags | set(new))
        await _record(uow, ticket, "tags_changed", {"tags": change(sorted(tags), after)})
        tags.update(new)
