"""Notification use cases: deciding who hears about a ticket event, and the agent's inbox of them.

New notifications and read marks are published on the bus topic ``notifications`` after commit
(``agent_id`` says whose they are); the live stream forwards them to that agent only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opora.agents.models import Role
from opora.auth.permissions import Principal, can_see_ticket
from opora.db import UnitOfWork
from opora.events.reactions import Fact
from opora.kit.pagination import cursor_int, decode_cursor, encode_cursor
from opora.kit.time import utcnow
from opora.notifications import repository
from opora.notifications.mentions import Handle, parse_mentions
from opora.notifications.models import SNIPPET_LENGTH, Notification, NotificationKind
from opora.notifications.repository import AgentAccess, Listed, TicketBrief
from opora.notifications.schemas import NotificationOut, ReadOut

TOPIC = "notifications"


@dataclass(frozen=True, slots=True)
class Draft:
    agent_id: int
    kind: NotificationKind
    ticket_id: int
    actor_id: int | None
    snippet: str
    message_id: int | None = None


def snippet(text: str, length: int = SNIPPET_LENGTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


def _agent_actor(fact: Fact) -> int | None:
    return fact.actor_id if fact.actor_type == "agent" else None


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]


def may_see(agent_id: int, access: AgentAccess, ticket: TicketBrief) -> bool:
    principal = Principal(agent_id=agent_id, role=Role(access.role), team_ids=access.team_ids, via="system")
    return can_see_ticket(principal, team_id=ticket.team_id, assignee_id=ticket.assignee_id)


def _is_note(fact: Fact) -> bool:
    return (
        fact.kind == "message_added"
        and fact.data.get("internal") is True
        and fact.data.get("author_type") == "agent"
        and isinstance(fact.data.get("message_id"), int)
    )


def _may_notify(fact: Fact) -> bool:
    """Whether ``fact`` can lead to a notification at all, judged without the database."""
    if fact.kind == "assigned":
        change = fact.data.get("assignee_id")
        new = change.get("new") if isinstance(change, dict) else None
        return isinstance(new, int) and not isinstance(new, bool) and new != _agent_actor(fact)
    if fact.kind == "rule_notification":
        return bool(_ids(fact.data.get("agent_ids")))
    return _is_note(fact)


async def notify_for(uow: UnitOfWork, facts: Sequence[Fact]) -> list[Notification]:
    """Create the notifications ``facts`` call for: a fixed handful of queries per call, none
    for the usual batch of customer messages and public replies."""
    facts = [f for f in facts if _may_notify(f)]
    if not facts:
        return []
    tickets = await repository.tickets_brief(uow.session, {f.ticket_id for f in facts})
    notes = await repository.notes_brief(uow.session, {f.data["message_id"] for f in facts if _is_note(f)})
    # Every agent is a possible mention; read them only when some note has an "@" at all.
    everyone = (
        await repository.active_agents(uow.session) if any("@" in n.text for n in notes.values()) else {}
    )
    handles = [Handle(agent_id, a.email, a.name) for agent_id, a in everyone.items()]

    drafts: list[Draft] = []
    for fact in facts:
        ticket = tickets.get(fact.ticket_id)
        if ticket is None:
            continue
        actor_id = _agent_actor(fact)
        if fact.kind == "assigned":
            new = fact.data["assignee_id"]["new"]
            drafts.append(
                Draft(new, NotificationKind.ASSIGNED, fact.ticket_id, actor_id, snippet(ticket.subject))
            )
        elif fact.kind == "message_added":
            note = notes.get(fact.data.get("message_id", -1))
            if note is None or "@" not in note.text:
                continue
            for agent_id in parse_mentions(note.text, handles):
                if agent_id != note.author_agent_id:
                    drafts.append(
                        Draft(
                            agent_id,
                            NotificationKind.MENTION,
                            fact.ticket_id,
                            note.author_agent_id,
                            snippet(note.text),
                            message_id=fact.data["message_id"],
                        )
                    )
        elif fact.kind == "rule_notification":
            text = snippet(str(fact.data.get("text") or ticket.subject))
            for agent_id in dict.fromkeys(_ids(fact.data.get("agent_ids"))):
                drafts.append(Draft(agent_id, NotificationKind.RULE, fact.ticket_id, actor_id, text))
    if not drafts:
        return []

    missing = {d.agent_id for d in drafts} - set(everyone)
    access = everyone | await repository.active_agents(uow.session, missing)
    rows: list[Notification] = []
    seen: set[tuple[int, str, int, int | None]] = set()
    now = utcnow()
    for d in drafts:
        key = (d.agent_id, d.kind, d.ticket_id, d.message_id)
        agent = access.get(d.agent_id)
        # A disabled agent gets nothing; nobody hears about a ticket it may not open.
        if key in seen or agent is None or not may_see(d.agent_id, agent, tickets[d.ticket_id]):
            continue
        seen.add(key)
        rows.append(
            Notification(
                agent_id=d.agent_id,
                kind=d.kind,
                ticket_id=d.ticket_id,
                message_id=d.message_id,
                actor_id=d.actor_id,
                snippet=d.snippet,
                created_at=now,
            )
        )
    repository.add_all(uow.session, rows)
    for row in rows:
        uow.publish(TOPIC, _live(row))
    return rows


def _live(row: Notification) -> Any:
    # Built after commit, when the row has its id.
    def build() -> dict[str, Any]:
        return {
            "type": "created",
            "id": row.id,
            "agent_id": row.agent_id,
            "kind": row.kind,
            "ticket_id": row.ticket_id,
            "message_id": row.message_id,
            "actor_id": row.actor_id,
            "text": row.snippet,
            "created_at": row.created_at.isoformat(),
        }

    return build


def _out(listed: Sequence[Listed]) -> list[NotificationOut]:
    return [
        NotificationOut(
            id=item.notification.id,
            kind=NotificationKind(item.notification.kind),
            ticket_id=item.notification.ticket_id,
            ticket_subject=item.ticket_subject,
            message_id=item.notification.message_id,
            actor_id=item.notification.actor_id,
            actor_name=item.actor_name,
            text=item.notification.snippet,
            created_at=item.notification.created_at,
            read_at=item.notification.read_at,
        )
        for item in listed
    ]


async def unread_count(uow: UnitOfWork, agent_id: int) -> int:
    return await repository.unread_count(uow.session, agent_id)


async def recent(uow: UnitOfWork, agent_id: int, limit: int = 20) -> list[NotificationOut]:
    """The agent's newest notifications, read or not (the header's drop-down)."""
    return _out(
        await repository.list_for(uow.session, agent_id, unread_only=False, limit=limit, before_id=None)
    )


async def page(
    uow: UnitOfWork, agent_id: int, *, unread_only: bool, limit: int, cursor: str | None
) -> tuple[list[NotificationOut], str | None]:
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_for(
        uow.session, agent_id, unread_only=unread_only, limit=limit + 1, before_id=before
    )
    items = _out(found[:limit])
    return items, encode_cursor(items[-1].id) if len(found) > limit and items else None


async def mark_read(uow: UnitOfWork, agent_id: int, ids: Sequence[int] | None) -> ReadOut:
    """Mark read (``ids=None``: all); other tabs of the agent hear of it to update their badge."""
    marked = await repository.mark_read(uow.session, agent_id, ids, utcnow())
    unread = await repository.unread_count(uow.session, agent_id)
    if marked:
        uow.publish(TOPIC, {"type": "read", "agent_id": agent_id, "ids": marked, "unread": unread})
    return ReadOut(marked=marked, unread=unread)
