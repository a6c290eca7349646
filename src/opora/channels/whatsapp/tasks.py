"""Downloading the media of inbound WhatsApp messages after they are stored.

Meta's webhook names media by id only; fetching them is network I/O that ``parse`` must not do.
An inbox hook queues one job per message with media in the batch's transaction, so the job
exists exactly when the message does. The download runs outside any transaction (SQLite has one
writer); the job's own transaction then adds the files.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opora.channels.models import Channel
from opora.channels.service import channel_secrets
from opora.channels.whatsapp import api, repository
from opora.channels.whatsapp.config import load
from opora.db import UnitOfWork
from opora.inbox import service as inbox
from opora.inbox.batch import Ingested
from opora.jobs.registry import JobContext, task
from opora.jobs.service import enqueue
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Message

log = logging.getLogger(__name__)

FETCH_TASK = "whatsapp.fetch_media"
MEDIA_KEY = "whatsapp_media"


async def queue_media_fetches(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    for item in ingested:
        if item.inbound.metadata.get(MEDIA_KEY):
            await enqueue(
                uow, FETCH_TASK, {"message_id": item.message_id}, unique_key=f"{FETCH_TASK}:{item.message_id}"
            )


if queue_media_fetches not in inbox.inbound_hooks:
    inbox.inbound_hooks.append(queue_media_fetches)


@task(FETCH_TASK, max_attempts=6, timeout=300, retry_base=30.0, retry_cap=1800.0)
async def fetch_media(ctx: JobContext, payload: dict[str, Any]) -> None:
    message_id = int(payload["message_id"])
    async with ctx.runtime.db.uow() as uow:
        message = await uow.session.get(Message, message_id)
        channel = (
            await uow.session.get(Channel, message.channel_id) if message and message.channel_id else None
        )
        if message is None or channel is None or await repository.attachment_count(uow.session, message_id):
            return
        refs = list((message.metadata_ or {}).get(MEDIA_KEY) or [])
        settings = load(channel.settings, channel_secrets(ctx.runtime, channel))
    files: list[dict[str, Any]] = []
    async with api.client() as http:
        for ref in refs:
            try:
                media = await api.download_media(http, settings, str(ref["id"]))
            except api.ApiError as exc:
                if exc.retriable:
                    raise
                # Gone for good (expired, removed): the message stays, without this file.
                log.warning("WhatsApp media %s of message %s: %s", ref.get("id"), message_id, exc)
                continue
            if len(media.data) > ctx.runtime.storage.max_bytes:
                continue
            digest = await asyncio.to_thread(ctx.runtime.storage.put, media.data)
            files.append(
                {
                    "message_id": message_id,
                    "sha256": digest,
                    "filename": str(ref.get("filename") or "attachment")[:255],
                    "content_type": (media.content_type or str(ref.get("mime_type")))[:100],
                    "size": len(media.data),
                    "is_inline": False,
                    "created_at": utcnow(),
                }
            )
    await repository.insert_attachments(ctx.uow.session, files)
