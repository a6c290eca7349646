"""Jobs of the email channel: IMAP polling.

``email.poll`` runs every 30 s and queues one ``email.poll_mailbox`` job per mailbox, so one slow
or broken mailbox neither delays nor fails the others, several workers poll different mailboxes
at once, and the unique key keeps two polls of the same mailbox from overlapping.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from opora.channels import repository as channels_repo
from opora.channels.email import imap
from opora.channels.email.adapter import CONTENT_TYPE, mail_key
from opora.channels.email.config import ImapServer, load
from opora.channels.models import Channel
from opora.channels.service import channel_secrets
from opora.db import Database, Hook
from opora.inbox.service import MAX_PAYLOAD_BYTES, receive
from opora.jobs.registry import JobContext, periodic, task
from opora.jobs.service import enqueue

log = logging.getLogger(__name__)

CHANNEL_TYPE = "email"
POLL_TASK = "email.poll"
POLL_MAILBOX_TASK = "email.poll_mailbox"
POLL_EVERY = timedelta(seconds=30)
MAX_CHANNELS = 10_000


def poll_key(channel_id: int) -> str:
    return f"{POLL_MAILBOX_TASK}:{channel_id}"


@periodic(POLL_TASK, every=POLL_EVERY, max_attempts=1, timeout=60)
async def poll_all(ctx: JobContext, payload: dict[str, Any]) -> None:
    channels = await channels_repo.list_channels(
        ctx.uow.session, limit=MAX_CHANNELS, type_name=CHANNEL_TYPE, active=True
    )
    for channel in channels:
        if (channel.settings or {}).get("imap_host"):
            # None when this mailbox's previous poll is still queued or running: skip, no pile-up.
            await enqueue(
                ctx.uow, POLL_MAILBOX_TASK, {"channel_id": channel.id}, unique_key=poll_key(channel.id)
            )


@task(POLL_MAILBOX_TASK, max_attempts=3, timeout=600, retry_base=15.0, retry_cap=300.0)
async def poll_mailbox(ctx: JobContext, payload: dict[str, Any]) -> None:
    await poll_channel(ctx, int(payload["channel_id"]))


async def poll_channel(ctx: JobContext, channel_id: int) -> int:
    """Store this mailbox's unseen mail in the job's transaction; mark it after the commit.

    Returns how many mails were handed to the inbox (duplicates included).
    """
    channel = await ctx.uow.session.get(Channel, channel_id)
    if channel is None or not channel.is_active or channel.type != CHANNEL_TYPE:
        return 0
    try:
        server = load(channel.settings, channel_secrets(ctx.runtime, channel)).imap
    except ValueError as exc:
        # Retrying cannot fix settings; the admin sees the channel's error on the channels API.
        log.error("email channel %s cannot be polled: %s", channel.id, exc)
        return 0
    if server is None:
        return 0
    batch = await asyncio.to_thread(
        imap.fetch_unseen, server, limit=server.batch, max_bytes=MAX_PAYLOAD_BYTES
    )
    for mail in batch.mails:
        await receive(
            ctx.uow,
            channel_id=channel.id,
            external_id=mail_key(mail.raw),
            payload=mail.raw,
            content_type=CONTENT_TYPE,
        )
    if batch.mails or batch.too_large:
        ctx.uow.after_commit(_marker(ctx.runtime.db, channel.id, server, batch))
    return len(batch.mails)


def _marker(db: Database, channel_id: int, server: ImapServer, batch: imap.Batch) -> Hook:
    async def mark() -> None:
        await asyncio.to_thread(imap.mark_processed, server, batch)
        if len(batch.mails) + len(batch.too_large) >= server.batch:
            # A full batch: more mail is probably waiting; fetch it now instead of in 30 s. The
            # job that just committed no longer holds the unique key.
            async with db.uow() as uow:
                await enqueue(
                    uow, POLL_MAILBOX_TASK, {"channel_id": channel_id}, unique_key=poll_key(channel_id)
                )

    return mark
