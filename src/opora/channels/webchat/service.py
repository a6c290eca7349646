"""Use cases of the chat widget: sessions, visitor messages, read receipts, the human hand-off.

A visitor's message is stored as a raw inbound payload (unique per channel and
``visitor:client_id``) in the request's transaction and acknowledged only after that commits;
the inbox job turns it into a ticket message, so resends are harmless and nothing is lost
(DESIGN invariant 1). What visitors' sockets see travels on the bus after commit (``hub.py``).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.webchat import identity, repository
from opora.channels.webchat.adapter import (
    CONTENT_TYPE,
    DEFAULT_UPLOAD_BYTES,
    DEFAULT_UPLOAD_TYPES,
    NEVER_UPLOADED,
    external_id,
)
from opora.channels.webchat.models import WebchatVisitor
from opora.channels.webchat.schemas import (
    Ack,
    FileOut,
    MessageIn,
    SessionIn,
    SessionOut,
    SuggestionOut,
    SuggestionsOut,
    WidgetMessage,
)
from opora.customers import identity as ident
from opora.customers import repository as customers_repo
from opora.customers import service as customers_service
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import Actor
from opora.inbox import service as inbox_service
from opora.inbox.batch import Ingested
from opora.kb.links import article_url
from opora.kb.search import service as kb_search
from opora.kit.crypto import new_token, sha256_hex
from opora.kit.errors import InvalidInput, NotFound, PayloadTooLarge, Unauthenticated
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.sla import service as sla_service
from opora.tickets import repository as tickets_repo
from opora.tickets.lifecycle import Status
from opora.tickets.models import Attachment, Message

log = logging.getLogger(__name__)

# Visitor-side news for every process's sockets: a visitor message stored, replies read.
TOPIC = "webchat"
HISTORY_LIMIT = 200
# Longer than any transaction that inserts a message lives (see ``history``).
REFETCH_OVERLAP = timedelta(minutes=5)
HUMAN_TAG = "human_requested"
# Article suggestions while the visitor types: from the third character, a few at a time.
SUGGEST_MIN_CHARS = 3
SUGGEST_LIMIT = 3
LANGUAGES = ("ru", "en")
_AUTHORS = {"customer": "visitor", "agent": "agent", "bot": "bot", "system": "system"}
# First bytes of the picture types we accept: a declared type must match the content.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class VisitorRef:
    """What a socket keeps between transactions: no ORM row outlives its unit of work."""

    id: int
    key: str
    token_hash: str
    channel_id: int


# -- channels and visitors ---------------------------------------------------------------------------


async def channel_by_key(uow: UnitOfWork, public_key: str) -> Channel:
    for channel in await repository.active_channels(uow.session):
        if channel.settings.get("public_key") == public_key:
            return channel
    raise NotFound("No active chat channel has this key.")


def language_of(requested: str | None, channel: Channel) -> str:
    code = (requested or "").split("-")[0].strip().lower()
    if code in LANGUAGES:
        return code
    default = channel.settings.get("language")
    return default if default in LANGUAGES else "ru"


def _localised(value: Any, language: str) -> str | None:
    if isinstance(value, dict):
        text = value.get(language) or next((v for v in value.values() if v), None)
        return text if isinstance(text, str) else None
    return None


def public_settings(channel: Channel, language: str) -> dict[str, Any]:
    """What the widget may show; never a secret (this goes to any page that asks)."""
    s = channel.settings
    return {
        "name": channel.name,
        "title": _localised(s.get("title"), language),
        "greeting": _localised(s.get("greeting"), language),
        "color": s.get("color") or "#1f6feb",
        "text_color": s.get("text_color") or "#ffffff",
        "upload_max_bytes": s.get("upload_max_bytes") or DEFAULT_UPLOAD_BYTES,
        "upload_types": list(s.get("upload_types") or DEFAULT_UPLOAD_TYPES),
    }


def origin_allowed(channel: Channel, origin: str | None) -> bool:
    allowed = channel.settings.get("allowed_origins")
    if not allowed:
        return True
    return origin is not None and origin.rstrip("/") in {o.rstrip("/") for o in allowed}


async def visitor_for(uow: UnitOfWork, channel: Channel, token: str, *, lock: bool = False) -> WebchatVisitor:
    visitor = await repository.visitor_by_token(
        uow.session, sha256_hex(token), lock=lock and not uow.is_sqlite
    )
    if visitor is None or visitor.channel_id != channel.id:
        raise Unauthenticated("Unknown visitor token; open a new session.")
    return visitor


def ref_of(visitor: WebchatVisitor) -> VisitorRef:
    return VisitorRef(visitor.id, visitor.key, visitor.token_hash, visitor.channel_id)


async def open_session(uow: UnitOfWork, runtime: Runtime, channel: Channel, data: SessionIn) -> SessionOut:
    """The visitor's token (a new one for a new browser), the channel's look, whether agents
    answer now, and the history. A signed identity links the visitor to the shop's customer."""
    visitor = None
    token = data.token
    if token:
        found = await repository.visitor_by_token(uow.session, sha256_hex(token))
        visitor = found if found is not None and found.channel_id == channel.id else None
    if visitor is None or token is None:
        token = new_token(24)
        visitor = await repository.insert_visitor(
            uow.session,
            WebchatVisitor(
                channel_id=channel.id,
                key="v" + new_token(16),
                token_hash=sha256_hex(token),
                wants_human=False,
            ),
        )
    language = language_of(data.language, channel)
    visitor.language = language
    visitor.last_seen_at = utcnow()
    state = "none"
    if data.identity is not None:
        claim = identity.Claim(**data.identity.model_dump())
        state = "verified" if await _link_signed(uow, runtime, channel, visitor, claim) else "ignored"
    return SessionOut(
        token=token,
        visitor=visitor.key,
        language=language,
        identity=state,
        offline=await offline_reason(uow, channel),
        email=visitor.email,
        settings=public_settings(channel, language),
        messages=await history(uow, channel, visitor.key, after_id=data.after_id),
    )


def _identity_secret(runtime: Runtime, channel: Channel) -> str | None:
    try:
        secret = channels_service.channel_secrets(runtime, channel).get("identity_secret")
    except ValueError:
        return None
    return secret if isinstance(secret, str) else None


async def _link_signed(
    uow: UnitOfWork, runtime: Runtime, channel: Channel, visitor: WebchatVisitor, claim: identity.Claim
) -> bool:
    """Merge the visitor's customer into the shop's customer it proved to be. False: ignored."""
    if not identity.verify(_identity_secret(runtime, channel), claim):
        return False
    wanted: list[tuple[str, str]] = []
    try:
        if claim.email.strip():
            wanted.append(ident.normalize("email", claim.email, field="identity"))
        if claim.id.strip():
            wanted.append(ident.normalize("shop", claim.id, field="identity"))
    except InvalidInput:
        return False
    survivor = await customers_service.find_or_create_by_identity(
        uow, "webchat", visitor.key, name=claim.name or None, language=visitor.language
    )
    for kind, value in wanted:
        found = await customers_repo.find_identity(uow.session, kind, value)
        if found is None:
            continue
        owner = await customers_service.resolve_customer(uow, found.customer_id)
        if owner.id != survivor.id:
            # The shop's record survives: its profile and history are the older, trusted ones.
            survivor = await customers_service.merge(uow, owner.id, survivor.id)
    for kind, value in wanted:
        await customers_service.add_identity(uow, survivor.id, kind, value)
    if claim.name.strip() and not survivor.name:
        survivor.name = claim.name.strip()[:200]
    visitor.signed_as = (wanted[0][1])[:320]
    return True


async def offline_reason(uow: UnitOfWork, channel: Channel) -> str | None:
    """None while agents answer live; "closed" outside the team calendar's hours; "no_agents"
    when nobody of the team is online (unless the channel's ``offline_when_no_agents`` is off)."""
    team_id = _team_of(channel)
    if team_id is not None:
        calendar_id = await repository.team_calendar_id(uow.session, team_id)
        if calendar_id is not None:
            calendars = await sla_service.load_calendars(uow.session, [calendar_id])
            if not sla_service.calendar_or_24_7(calendars, calendar_id).is_open(utcnow()):
                return "closed"
    no_agents_means_offline = channel.settings.get("offline_when_no_agents", True)
    if no_agents_means_offline and await repository.online_agents(uow.session, team_id) == 0:
        return "no_agents"
    return None


def _team_of(channel: Channel) -> int | None:
    team = channel.settings.get("team_id")
    return team if isinstance(team, int) and not isinstance(team, bool) else None


# -- messages --------------------------------------------------------------------------------------


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


async def widget_messages(uow: UnitOfWork, rows: Sequence[Message]) -> list[WidgetMessage]:
    names = await repository.agent_names(
        uow.session, sorted({m.author_agent_id for m in rows if m.author_agent_id})
    )
    files = await repository.attachments_of(uow.session, [m.id for m in rows])
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


async def suggestions(uow: UnitOfWork, runtime: Runtime, text: str, language: str | None) -> SuggestionsOut:
    """Published public articles for what the visitor is typing, as links to the portal."""
    if len(text.strip()) < SUGGEST_MIN_CHARS:
        return SuggestionsOut(articles=[])
    found = await kb_search.suggest_for_widget(uow, text, language=language, limit=SUGGEST_LIMIT)
    return SuggestionsOut(
        articles=[
            SuggestionOut(
                title=h.article.title,
                url=article_url(runtime.settings.public_url, h.article.language, h.article.slug),
            )
            for h in found.hits
        ]
    )


def check_upload(channel: Channel, upload: Upload) -> Upload:
    """Size, type and (for pictures) content checks; the file name loses any path."""
    limit = channel.settings.get("upload_max_bytes") or DEFAULT_UPLOAD_BYTES
    if len(upload.data) > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.", field="file", limit=limit)
    if not upload.data:
        raise InvalidInput("The file is empty.", field="file")
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    allowed = channel.settings.get("upload_types") or DEFAULT_UPLOAD_TYPES
    if content_type not in allowed or content_type in NEVER_UPLOADED:
        raise InvalidInput(f"Files of type {content_type or 'unknown'} are not accepted here.", field="file")
    magic = _MAGIC.get(content_type)
    if magic and not upload.data.startswith(magic):
        raise InvalidInput(f"The file is not a {content_type} picture.", field="file")
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "file"
    return Upload(filename=name, content_type=content_type, data=upload.data)


async def post_message(
    uow: UnitOfWork,
    channel: Channel,
    visitor: VisitorRef,
    data: MessageIn,
    files: Sequence[Upload] = (),
    *,
    runtime: Runtime | None = None,
) -> Ack:
    """Store the visitor's message; the caller acknowledges after commit. The same client id
    again is a resend and stores nothing.

    With the runtime (and unless the channel's ``process_inline`` is off) the message is also
    processed in this transaction, so it is a ticket message, live for agents, as soon as the
    transaction commits (ADR 0029). If that processing fails, the transaction is restarted and
    the message is stored for the inbox job, as without the runtime.
    """
    if not data.text.strip() and not files:
        raise InvalidInput("Write a message or attach a file.", field="text")
    if runtime is not None and channel.settings.get("process_inline", True):
        channel_id = channel.id
        try:
            return await _store(uow, channel, visitor, data, files, runtime=runtime)
        except (Unauthenticated, InvalidInput):
            raise
        except inbox_service.TRANSIENT:
            raise
        except Exception:
            log.exception(
                "webchat: processing message %s inline failed; leaving it to the inbox job", data.client_id
            )
            await uow.restart()
            # The rollback expired every row the transaction loaded.
            channel = await channels_service.get_channel(uow, channel_id)
    return await _store(uow, channel, visitor, data, files, runtime=None)


async def _store(
    uow: UnitOfWork,
    channel: Channel,
    visitor: VisitorRef,
    data: MessageIn,
    files: Sequence[Upload],
    *,
    runtime: Runtime | None,
) -> Ack:
    row = await repository.visitor_by_token(uow.session, visitor.token_hash, lock=not uow.is_sqlite)
    if row is None:
        raise Unauthenticated("Unknown visitor token; open a new session.")
    key = external_id(row.key, data.client_id)
    if data.email is not None:
        row.email = data.email
    payload = {
        "visitor": row.key,
        "client_id": data.client_id,
        "text": data.text,
        "reply_to": row.last_external_id if row.last_external_id != key else None,
        "language": row.language,
        "email": row.email,
        "offline": data.email is not None,
        "sent_at": utcnow().isoformat(),
        "files": [
            {
                "filename": f.filename,
                "content_type": f.content_type,
                "data": base64.b64encode(f.data).decode(),
            }
            for f in files
        ],
    }
    received = await inbox_service.receive(
        uow,
        channel_id=channel.id,
        external_id=key,
        payload=json.dumps(payload, ensure_ascii=False).encode(),
        content_type=CONTENT_TYPE,
        queue=runtime is None,
    )
    if received.created:
        row.last_external_id = key
        row.last_seen_at = utcnow()
        if runtime is not None and received.payload_id is not None:
            await inbox_service.process_now(uow, runtime, received.payload_id)
    return Ack(client_id=data.client_id, duplicate=not received.created)


async def mark_read(uow: UnitOfWork, channel_id: int, visitor_key: str, up_to: int) -> list[int]:
    """The visitor saw every reply up to ``up_to``: those become "read", each with its event."""
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    rows = await repository.mark_read(uow.session, ticket_ids, up_to, lock=not uow.is_sqlite)
    if not rows:
        return []
    tickets = await repository.tickets(uow.session, sorted({t for _, t in rows}))
    for message_id, ticket_id in rows:
        ticket = tickets[ticket_id]
        await events.record(
            uow,
            ticket_id=ticket_id,
            kind="message_delivery",
            actor=Actor("customer", ticket.customer_id),
            data={"message_id": message_id, "status": "read", "error": None},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
    read = [m for m, _ in rows]
    uow.publish(TOPIC, {"kind": "read", "visitor": visitor_key, "message_ids": read})
    return read


async def request_human(uow: UnitOfWork, channel_id: int, visitor_key: str) -> int | None:
    """ "Talk to a person": tag the visitor's open conversation; without one yet, remember the
    wish so that the first message's ticket gets the tag. Returns the tagged ticket's id."""
    row = await repository.visitor_by_key(uow.session, visitor_key)
    if row is None:
        raise Unauthenticated("Unknown visitor.")
    ticket_ids = await repository.visitor_ticket_ids(uow.session, channel_id, visitor_key)
    tickets = await repository.tickets(uow.session, ticket_ids)
    open_ids = [t for t, row_ in tickets.items() if row_.status not in (Status.SOLVED, Status.CLOSED)]
    if not open_ids:
        row.wants_human = True
        return None
    ticket_id = max(open_ids)
    await _tag_human(uow, [tickets[ticket_id]])
    row.wants_human = False
    return ticket_id


async def _tag_human(uow: UnitOfWork, tickets: Sequence[Any]) -> None:
    current = await tickets_repo.tags_of(uow.session, [t.id for t in tickets])
    for ticket in tickets:
        old = current.get(ticket.id, [])
        if HUMAN_TAG in old:
            continue
        new = sorted({*old, HUMAN_TAG})
        await tickets_repo.set_tags(uow.session, ticket.id, new)
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind="tags_changed",
            actor=Actor("customer", ticket.customer_id),
            data={"tags": events.change(old, new)},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )


async def on_ingested(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    """Inbox hook: tell the visitor's sockets (every tab, any process) that a message is stored,
    and tag new conversations of visitors who asked for a person before writing."""
    mine = [i for i in ingested if isinstance(i.inbound.metadata.get("webchat"), dict)]
    if not mine:
        return
    rows = {m.id: m for m in await repository.messages_by_id(uow.session, [i.message_id for i in mine])}
    tickets = await repository.tickets(uow.session, sorted({i.ticket_id for i in mine}))
    shown = {m.id: m for m in await widget_messages(uow, list(rows.values()))}
    keys = sorted({str(i.inbound.metadata["webchat"]["visitor"]) for i in mine})
    waiting = await repository.visitors_wanting_human(uow.session, keys)
    if waiting:
        tagged = {i.ticket_id for i in mine if i.inbound.metadata["webchat"]["visitor"] in waiting}
        await _tag_human(uow, [tickets[t] for t in sorted(tagged)])
        for visitor in waiting.values():
            visitor.wants_human = False
    for item in mine:
        ticket = tickets[item.ticket_id]
        uow.publish(
            TOPIC,
            {
                "kind": "stored",
                "visitor": item.inbound.metadata["webchat"]["visitor"],
                "ticket_id": ticket.id,
                "team_id": ticket.team_id,
                "assignee_id": ticket.assignee_id,
                "message": shown[item.message_id].model_dump(mode="json"),
            },
        )


async def visitor_file(uow: UnitOfWork, attachment_id: int, sha256: str) -> Attachment:
    found = await repository.attachment_with_message(uow.session, attachment_id)
    if found is None or found[0].sha256 != sha256 or found[1].is_internal:
        raise NotFound("No such file.")
    return found[0]
