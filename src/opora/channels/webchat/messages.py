"""Visitor messages.

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

from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.webchat import handoff, history, repository
from opora.channels.webchat.adapter import CONTENT_TYPE, external_id
from opora.channels.webchat.models import WebchatVisitor
from opora.channels.webchat.schemas import Ack, MessageIn
from opora.channels.webchat.sessions import VisitorRef
from opora.channels.webchat.uploads import Upload
from opora.db import UnitOfWork
from opora.inbox import service as inbox_service
from opora.inbox.batch import Ingested
from opora.kit.errors import InvalidInput, Unauthenticated
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Message

log = logging.getLogger(__name__)

# Visitor-side news for every process's sockets: a visitor message stored, replies read.
TOPIC = "webchat"
_VISITORS = "webchat.visitors"


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
        uow.state.setdefault(_VISITORS, {})[row.key] = row
        row.last_external_id = key
        row.last_seen_at = utcnow()
        if runtime is not None and received.payload_id is not None:
            await inbox_service.process_now(uow, runtime, received.payload_id, channel=channel)
    return Ack(client_id=data.client_id, duplicate=not received.created)


async def on_ingested(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    """Inbox hook: tell the visitor's sockets (every tab, any process) that a message is stored,
    and tag new conversations of visitors who asked for a person before writing."""
    mine = [i for i in ingested if isinstance(i.inbound.metadata.get("webchat"), dict)]
    if not mine:
        return
    # The batch's own copies of the rows it stored: reading them back cost two statements
    # before the visitor's message could be announced.
    rows: dict[int, Message] = {i.message_id: i.message for i in mine if i.message is not None}
    missing = [i.message_id for i in mine if i.message_id not in rows]
    rows.update({m.id: m for m in await repository.messages_by_id(uow.session, missing)})
    with_files = any(i.inbound.attachments for i in mine)
    shown = {m.id: m for m in await history.widget_messages(uow, list(rows.values()), with_files=with_files)}
    keys = sorted({str(i.inbound.metadata["webchat"]["visitor"]) for i in mine})
    # A message stored inline (``_store``) has its visitor's row loaded and locked already.
    loaded: dict[str, WebchatVisitor] = uow.state.get(_VISITORS, {})
    if all(key in loaded for key in keys):
        waiting = {key: loaded[key] for key in keys if loaded[key].wants_human}
    else:
        waiting = await repository.visitors_wanting_human(uow.session, keys)
    if waiting:
        tagged = {i.ticket_id for i in mine if i.inbound.metadata["webchat"]["visitor"] in waiting}
        tickets = await repository.tickets(uow.session, sorted(tagged))
        await handoff.tag_human(uow, [tickets[t] for t in sorted(tagged)])
        for visitor in waiting.values():
            visitor.wants_human = False
    for item in mine:
        uow.publish(
            TOPIC,
            {
                "kind": "stored",
                "visitor": item.inbound.metadata["webchat"]["visitor"],
                "ticket_id": item.ticket_id,
                "team_id": item.team_id,
                "assignee_id": item.assignee_id,
                "message": shown[item.message_id].model_dump(mode="json"),
            },
        )
