"""IMAP IDLE: start a mailbox's poll the moment its server announces new mail.

Polling every 30 s stays the safety net; IDLE only brings the next poll forward. One watcher per
mailbox whose server offers IDLE, in every serving process: each wake-up enqueues the mailbox's
poll job under its unique key, so several processes watching the same mailbox still run one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from imap_tools import BaseMailBox

from opora.channels import repository as channels_repo
from opora.channels.email import imap
from opora.channels.email.config import ImapServer, load
from opora.channels.email.tasks import CHANNEL_TYPE, MAX_CHANNELS, POLL_MAILBOX_TASK, poll_key
from opora.channels.service import channel_secrets
from opora.jobs.service import enqueue
from opora.runtime import Runtime

log = logging.getLogger(__name__)

# RFC 2177 asks clients to renew IDLE before 29 minutes; a shorter wait also bounds how long a
# stopped watcher's thread lingers.
IDLE_WAIT_SECONDS = 25.0
# Mailboxes added, changed or removed by an admin are picked up this often.
REFRESH_SECONDS = 60.0
RETRY_SECONDS = 30.0


class IdleWatcher:
    def __init__(self, runtime: Runtime, *, idle_wait: float = IDLE_WAIT_SECONDS) -> None:
        self.runtime = runtime
        self.idle_wait = idle_wait
        self._supervisor: asyncio.Task[None] | None = None
        self._watchers: dict[int, tuple[ImapServer, asyncio.Task[None]]] = {}
        self._boxes: dict[int, BaseMailBox] = {}

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="email-idle-supervisor")

    async def stop(self) -> None:
        tasks = [t for t in [self._supervisor, *(w for _s, w in self._watchers.values())] if t]
        for box in list(self._boxes.values()):
            # Closing the socket ends a thread blocked in IDLE now rather than at its timeout.
            imap.close_quietly(box)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watchers.clear()

    async def _supervise(self) -> None:
        while True:
            try:
                wanted = await self._mailboxes()
                for channel_id in list(self._watchers):
                    server, task = self._watchers[channel_id]
                    if wanted.get(channel_id) != server or task.done():
                        task.cancel()
                        del self._watchers[channel_id]
                for channel_id, server in wanted.items():
                    if channel_id not in self._watchers:
                        task = asyncio.create_task(
                            self._watch(channel_id, server), name=f"email-idle-{channel_id}"
                        )
                        self._watchers[channel_id] = (server, task)
            except Exception:
                log.warning("could not refresh the IMAP IDLE watchers", exc_info=True)
            await asyncio.sleep(REFRESH_SECONDS)

    async def _mailboxes(self) -> dict[int, ImapServer]:
        found: dict[int, ImapServer] = {}
        async with self.runtime.db.uow() as uow:
            channels = await channels_repo.list_channels(
                uow.session, limit=MAX_CHANNELS, type_name=CHANNEL_TYPE, active=True
            )
            for channel in channels:
                settings = channel.settings or {}
                if not settings.get("imap_host") or settings.get("imap_idle") is False:
                    continue
                try:
                    config = load(settings, channel_secrets(self.runtime, channel))
                except ValueError:
                    continue  # the poll job reports broken settings; nothing to watch here
                if config.imap is not None:
                    found[channel.id] = config.imap
        return found

    async def _watch(self, channel_id: int, server: ImapServer) -> None:
        while True:
            try:
                box = await asyncio.to_thread(imap.connect, server)
                self._boxes[channel_id] = box
                if not imap.offers_idle(box):
                    log.info("mailbox of channel %s offers no IDLE; it is polled", channel_id)
                    return
                await self._wake(channel_id)  # mail that arrived while we were not watching
                while True:
                    responses = await asyncio.to_thread(box.idle.wait, self.idle_wait)
                    if any(b"EXISTS" in line or b"RECENT" in line for line in responses):
                        await self._wake(channel_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("IMAP IDLE of channel %s failed; retrying", channel_id, exc_info=True)
            finally:
                box_left = self._boxes.pop(channel_id, None)
                if box_left is not None:
                    await asyncio.to_thread(imap.close_quietly, box_left)
            await asyncio.sleep(RETRY_SECONDS)

    async def _wake(self, channel_id: int) -> None:
        async with self.runtime.db.uow() as uow:
            await enqueue(uow, POLL_MAILBOX_TASK, {"channel_id": channel_id}, unique_key=poll_key(channel_id))


def idle_from_settings(runtime: Runtime) -> IdleWatcher | None:
    return IdleWatcher(runtime) if runtime.settings.imap_idle else None
