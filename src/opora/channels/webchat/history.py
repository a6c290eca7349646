"""What the widget shows: a visitor's public messages, rendered for the widget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from opora.channels.models import Channel
from opora.channels.webchat import repository
from opora.channels.webchat.schemas import FileOut, WidgetMessage
from opora.db import UnitOfWork
from opora.tickets.models import Attachment, Message

HISTORY_LIMIT = 200
# Longer than any transaction that inserts a message lives (see ``history``).
REFETCH_OVERLAP = timedelta(minutes=5)
_AUTHORS = {"customer": "visitor", "agent": "agent", "bot": "bot", "system": "system"}


async def history(
    uow: UnitOfWork,
    channel: Channel,
    visitor_key: str,
    *,
    after_id: int = 0,
    ticket_ids: Sequence[int] | None = None,
) -> list[WidgetMessage]:
    """Public messages of every ticket the visitor wrote in (never of other tickets of the same
    customer record: a record may hold several people's chats until an agent splits it).

    After ``after_id`` means "newer than the last message the widget holds", and ids do not
    say that alone: on PostgreSQL a message takes its id at insert, not at commit, so a reply
    may commit with a lower id after the widget has seen a higher one. Messages created up to
    ``REFETCH_OVERLAP`` before that last one come again too; the widget drops ids it holds.
    """
    if ticket_ids is None:
        ticket_ids = await repository.visitor_ticket_ids(uow.session, channel.id, visitor_key)
    since = None
    if after_id > 0 and ticket_ids:
        anchor = await repository.message_created_at(uow.session, after_id)
        since = anchor - REFETCH_OVERLAP if anchor is not None else None
    rows = await repository.history(
        uow.session, ticket_ids, after_id=after_id, since=since, limit=HISTORY_LIMIT
    )
    return await widget_messages(uow, rows)


async def visitor_tickets(
    uow: UnitOfWork, channel_id: int, visitor_key: str
) -> dict[int, tuple[int | None, int | None]]:
    """The tickets the visitor wrote in, each with its team and assignee (for live routing)."""
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    found = await repository.tickets(uow.session, ticket_ids)
    return {t.id: (t.team_id, t.assignee_id) for t in found.values()}


async def widget_messages(
    uow: UnitOfWork, rows: Sequence[Message], *, with_files: bool = True
) -> list[WidgetMessage]:
    """``with_files=False``: the caller knows these messages have no attachments."""
    names = await repository.agent_names(
        uow.session, sorted({m.author_agent_id for m in rows if m.author_agent_id})
    )
    files = await repository.attachments_of(uow.session, [m.id for m in rows]) if with_files else {}
    return [widget_message(m, names, files.get(m.id, [])) for m in rows]


def initials(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


def file_url(attachment: Attachment) -> str:
    # The content hash is the capability: 256 unguessable bits, and only a visitor whose
    # history holds the file is ever told it.
    return f"/widget/v1/files/{attachment.id}/{attachment.sha256}"


def widget_message(message: Message, names: dict[int, str], files: Sequence[Attachment]) -> WidgetMessage:
    chat = (message.metadata_ or {}).get("webchat") or {}
    name = names.get(message.author_agent_id or 0)
    return WidgetMessage(
        id=message.id,
        ticket_id=message.ticket_id,
        author=_AUTHORS.get(message.author_type, "system"),
        text=message.text,
        created_at=message.created_at.isoformat(),
        status=message.delivery_status,
        client_id=chat.get("client_id") if isinstance(chat, dict) else None,
        agent_name=name,
        agent_initials=initials(name) if name else None,
        files=[
            FileOut(id=a.id, name=a.filename, type=a.content_type, size=a.size, url=file_url(a))
            for a in files
        ],
        buttons=_buttons(message),
    )


def _buttons(message: Message) -> list[list[str]]:
    if message.author_type != "bot":
        return []
    raw = (message.metadata_ or {}).get("quick_replies") or []
    return [[str(label), str(payload)] for label, payload in raw]
