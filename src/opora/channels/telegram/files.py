"""Getting the bytes of photos, documents and voice messages after the message is stored.

The adapter's ``parse`` must stay pure, and an update holds only file ids, so the bytes cannot come
with the message. Instead an inbound hook (same transaction as the message) queues one
``telegram.fetch_files`` job per message with files; the job calls getFile, downloads each file
with no database transaction open, then adds the attachments to the message in its own
transaction. A restart re-runs the job; the message's attachments are added at most once.

The same hook sets the customer's language from Telegram's ``language_code`` when it is not known
yet (a new customer gets it from the message already).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.telegram import repository
from opora.channels.telegram.api import BotApi, TelegramError
from opora.channels.telegram.config import TelegramSettings, load
from opora.db import UnitOfWork
from opora.inbox.batch import Ingested
from opora.jobs.errors import RetryAfter
from opora.jobs.registry import JobContext, task
from opora.jobs.service import enqueue
from opora.kit.time import utcnow
from opora.runtime import Runtime

log = logging.getLogger(__name__)

FETCH_TASK = "telegram.fetch_files"
CHANNEL_TYPE = "telegram"
# The cloud Bot API serves files up to 20 MB through getFile.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024


def fetch_key(message_id: int) -> str:
    return f"{FETCH_TASK}:{message_id}"


async def on_inbound(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    languages: dict[str, list[int]] = {}
    for item in ingested:
        telegram = item.inbound.metadata.get("telegram")
        if not isinstance(telegram, dict):
            continue  # another channel's message
        if telegram.get("files"):
            await enqueue(
                uow, FETCH_TASK, {"message_id": item.message_id}, unique_key=fetch_key(item.message_id)
            )
        language = item.inbound.metadata.get("language")
        if isinstance(language, str):
            languages.setdefault(language, []).append(item.customer_id)
    for language, customer_ids in languages.items():
        await repository.set_language_if_unknown(uow.session, customer_ids, language)


@dataclass(frozen=True)
class _Plan:
    settings: TelegramSettings
    files: list[dict[str, Any]]


@task(FETCH_TASK, max_attempts=6, timeout=600, retry_base=30.0, retry_cap=1800.0)
async def fetch_files(ctx: JobContext, payload: dict[str, Any]) -> None:
    message_id = int(payload["message_id"])
    plan = await _plan(ctx.runtime, message_id)
    if plan is None:
        return
    limit = min(ctx.runtime.storage.max_bytes, BOT_API_DOWNLOAD_LIMIT)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    async with BotApi(plan.settings) as api:
        for item in plan.files:
            try:
                data = await _download(api, item, limit)
            except TelegramError as exc:
                if exc.retriable and not ctx.is_last_attempt:
                    # Nothing is written yet: the whole message's files are fetched again later.
                    if exc.retry_after is not None:
                        raise RetryAfter(exc.retry_after, str(exc)) from exc
                    raise
                errors.append({"file_unique_id": item.get("file_unique_id"), "error": str(exc)[:500]})
                continue
            digest = await asyncio.to_thread(ctx.runtime.storage.put, data)
            rows.append(
                {
                    "message_id": message_id,
                    "sha256": digest,
                    "filename": str(item.get("filename") or "file")[:255],
                    "content_type": str(item.get("content_type") or "application/octet-stream")[:100],
                    "size": len(data),
                    "is_inline": False,
                    "content_id": None,
                    "created_at": utcnow(),
                }
            )
    session = ctx.uow.session
    if await repository.has_attachments(session, message_id):
        return  # an earlier run got there (a retry after its commit)
    await repository.insert_attachments(session, rows)
    if errors:
        # Shown to agents as why a file the customer sent is missing.
        await repository.merge_message_metadata(session, message_id, {"telegram_file_errors": errors})


async def _plan(runtime: Runtime, message_id: int) -> _Plan | None:
    """What to fetch, read in a short transaction of its own: none stays open while downloading."""
    async with runtime.db.uow() as uow:
        message = await repository.get_message(uow.session, message_id)
        if message is None or message.channel_id is None:
            return None
        if await repository.has_attachments(uow.session, message_id):
            return None
        channel = await uow.session.get(Channel, message.channel_id)
        if channel is None or channel.type != CHANNEL_TYPE:
            return None
        try:
            settings = load(channel.settings, channels_service.channel_secrets(runtime, channel))
        except ValueError as exc:
            log.error("Telegram channel %s cannot fetch files: %s", channel.id, exc)
            return None
        telegram = (message.metadata_ or {}).get("telegram") or {}
        files = [
            f for f in telegram.get("files", []) if isinstance(f, dict) and isinstance(f.get("file_id"), str)
        ]
        return _Plan(settings, files) if files else None


async def _download(api: BotApi, item: dict[str, Any], limit: int) -> bytes:
    size = item.get("file_size")
    if isinstance(size, int) and size > limit:
        raise TelegramError(f"the file is {size} bytes; files up to {limit} bytes are kept", status=413)
    path = await api.get_file_path(str(item["file_id"]))
    return await api.download(path, max_bytes=limit)
