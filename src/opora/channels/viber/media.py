"""Downloading the pictures, videos and files customers send to the Viber bot.

A Viber callback names media by a URL on Viber's servers that expires after a while, so the file
is fetched once the message is stored: an inbox hook queues a job in the batch's transaction (the
job exists exactly when the message does), the download runs outside any transaction through
the SSRF-safe client with the channel's size limit, and the job's own transaction adds the file.
A file over the limit, or one Viber no longer has, stays a link in the message, noted in
``metadata.viber_media_skipped``; a network failure is retried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opora.channels.models import Channel
from opora.channels.service import channel_secrets
from opora.channels.viber import repository
from opora.channels.viber.config import load
from opora.db import UnitOfWork
from opora.inbox import service as inbox
from opora.inbox.batch import Ingested
from opora.jobs.registry import JobContext, task
from opora.jobs.service import enqueue
from opora.kit import safe_http
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Message

log = logging.getLogger(__name__)

FETCH_TASK = "viber.fetch_media"
LINKS_KEY = "viber_attachments"
SKIPPED_KEY = "viber_media_skipped"
_DEFAULT_TYPES = {"picture": "image/jpeg", "video": "video/mp4", "file": "application/octet-stream"}


class MediaUnavailable(Exception):
    """Viber's media server failed in a way that may pass; the job retries."""


async def queue_fetches(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    for item in ingested:
        if item.inbound.metadata.get(LINKS_KEY) and str(item.inbound.sender_kind) == "viber":
            await enqueue(
                uow, FETCH_TASK, {"message_id": item.message_id}, unique_key=f"{FETCH_TASK}:{item.message_id}"
            )


if queue_fetches not in inbox.inbound_hooks:
    inbox.inbound_hooks.append(queue_fetches)


@task(FETCH_TASK, max_attempts=6, timeout=300, retry_base=30.0, retry_cap=1800.0)
async def fetch_media(ctx: JobContext, payload: dict[str, Any]) -> None:
    message_id = int(payload["message_id"])
    async with ctx.runtime.db.uow() as uow:
        message = await uow.session.get(Message, message_id)
        channel = (
            await uow.session.get(Channel, message.channel_id) if message and message.channel_id else None
        )
        if message is None or channel is None or (message.metadata_ or {}).get(SKIPPED_KEY) is not None:
            return
        if await repository.attachment_count(uow.session, message_id):
            return
        links = list((message.metadata_ or {}).get(LINKS_KEY) or [])
        settings = load(channel.settings, channel_secrets(ctx.runtime, channel))
    limit = min(settings.media_max_bytes, ctx.runtime.storage.max_bytes)
    policy = safe_http.OutboundPolicy(
        allow=safe_http.parse_allow_list(settings.media_allow),
        max_response_bytes=limit + 1,
        read_timeout=60.0,
        total_timeout=240.0,
        max_redirects=3,
    )
    files: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for link in links:
        name = str(link.get("title") or "") or f"{link.get('type') or 'file'}"
        declared = link.get("size")
        if isinstance(declared, int) and declared > limit:
            skipped.append({"url": str(link["url"]), "reason": f"larger than {limit} bytes"})
            continue
        reason, data, content_type = await _download(str(link["url"]), policy, limit)
        if reason is not None:
            skipped.append({"url": str(link["url"]), "reason": reason})
            continue
        digest = await asyncio.to_thread(ctx.runtime.storage.put, data)
        files.append(
            {
                "message_id": message_id,
                "sha256": digest,
                "filename": name[:255],
                "content_type": (content_type or _DEFAULT_TYPES.get(str(link.get("type")), ""))[:100]
                or "application/octet-stream",
                "size": len(data),
                "is_inline": False,
                "created_at": utcnow(),
            }
        )
    session = ctx.uow.session
    await repository.insert_attachments(session, files)
    row = await session.get(Message, message_id)
    if row is not None:
        row.metadata_ = {**(row.metadata_ or {}), SKIPPED_KEY: skipped}


async def _download(url: str, policy: safe_http.OutboundPolicy, limit: int) -> tuple[str | None, bytes, str]:
    """(why it was not kept, the bytes, their type). Raises MediaUnavailable when a retry may help."""
    try:
        answer = await safe_http.request("GET", url, policy=policy)
    except safe_http.Refused as exc:
        return f"refused: {exc}", b"", ""
    except safe_http.OutboundError as exc:
        raise MediaUnavailable(f"download of {url} failed: {exc}") from exc
    if answer.status_code >= 500 or answer.status_code == 429:
        raise MediaUnavailable(f"Viber's media server answered HTTP {answer.status_code}")
    if not answer.ok:
        return f"Viber's media server answered HTTP {answer.status_code} (expired?)", b"", ""
    if answer.truncated or len(answer.body) > limit:
        return f"larger than {limit} bytes", b"", ""
    content_type = (answer.headers.get("content-type") or "").split(";")[0].strip().lower()
    return None, answer.body, content_type
