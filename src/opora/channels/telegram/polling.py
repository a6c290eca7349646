"""Long polling (getUpdates) for Telegram channels in "polling" mode: a desk without a public URL.

Each serving process runs one poller task per polling channel. Every batch of updates is stored
through the inbox's ``receive`` (one row per update, keyed ``update:<id>`` like webhook calls) and
committed before the next getUpdates call confirms it with ``offset``. The offset therefore lives
at Telegram, which resends everything unconfirmed: a process killed at any point loses no update,
and an update stored but not yet confirmed comes again and is dropped as a duplicate. No table of
our own is needed.

Two processes polling one bot make Telegram answer one of them 409 ("terminated by other
getUpdates request"); that one waits and tries again, and the stored set stays the same. A bot
that still has a webhook also gets 409; in polling mode the admin has asked for polling, so the
webhook is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from opora.channels import repository as channels_repo
from opora.channels.service import channel_secrets
from opora.channels.telegram.adapter import CONTENT_TYPE
from opora.channels.telegram.api import BotApi, TelegramError
from opora.channels.telegram.config import TelegramSettings, load
from opora.channels.telegram.parse import payload_key
from opora.inbox.service import receive
from opora.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL_TYPE = "telegram"
MAX_CHANNELS = 10_000
# Channels added, changed or removed by an admin are picked up this often.
REFRESH_SECONDS = 60.0
RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 120.0


class TelegramPoller:
    def __init__(
        self,
        runtime: Runtime,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self._supervisor: asyncio.Task[None] | None = None
        self._pollers: dict[int, tuple[TelegramSettings, asyncio.Task[None]]] = {}

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="telegram-poll-supervisor")

    async def stop(self) -> None:
        """Cancel the long polls. An update fetched but not yet committed is simply fetched
        again by the next process: it was never confirmed to Telegram."""
        tasks = [t for t in [self._supervisor, *(task for _s, task in self._pollers.values())] if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pollers.clear()
        self._supervisor = None

    async def _supervise(self) -> None:
        while True:
            try:
                wanted = await self._channels()
                for channel_id in list(self._pollers):
                    settings, task = self._pollers[channel_id]
                    if wanted.get(channel_id) != settings or task.done():
                        task.cancel()
                        del self._pollers[channel_id]
                for channel_id, settings in wanted.items():
                    if channel_id not in self._pollers:
                        task = asyncio.create_task(
                            self._poll(channel_id, settings), name=f"telegram-poll-{channel_id}"
                        )
                        self._pollers[channel_id] = (settings, task)
            except Exception:
                log.warning("could not refresh the Telegram pollers", exc_info=True)
            await asyncio.sleep(self.refresh_seconds)

    async def _channels(self) -> dict[int, TelegramSettings]:
        found: dict[int, TelegramSettings] = {}
        async with self.runtime.db.uow() as uow:
            channels = await channels_repo.list_channels(
                uow.session, limit=MAX_CHANNELS, type_name=CHANNEL_TYPE, active=True
            )
            for channel in channels:
                if (channel.settings or {}).get("mode") != "polling":
                    continue
                try:
                    found[channel.id] = load(channel.settings, channel_secrets(self.runtime, channel))
                except ValueError as exc:
                    log.error("Telegram channel %s cannot be polled: %s", channel.id, exc)
        return found

    async def _poll(self, channel_id: int, settings: TelegramSettings) -> None:
        offset: int | None = None
        failures = 0
        async with BotApi(settings) as api:
            while True:
                try:
                    updates = await api.get_updates(offset, wait=settings.poll_timeout)
                    if updates:
                        await store_updates(self.runtime, channel_id, updates)
                        # Confirmed to Telegram by the next call, i.e. only after the commit.
                        offset = max(u["update_id"] for u in updates) + 1
                    failures = 0
                    continue
                except asyncio.CancelledError:
                    raise
                except TelegramError as exc:
                    if exc.status == 409 and "webhook" in exc.description.lower():
                        log.warning("Telegram channel %s has a webhook; removing it for polling", channel_id)
                        with contextlib.suppress(TelegramError):
                            await api.call("deleteWebhook", {"drop_pending_updates": False})
                            continue
                    delay = exc.retry_after
                    log.warning("Telegram polling of channel %s failed: %s", channel_id, exc)
                except Exception:
                    delay = None
                    log.exception("Telegram polling of channel %s failed", channel_id)
                failures += 1
                await asyncio.sleep(delay or min(self.retry_seconds * 2 ** (failures - 1), MAX_RETRY_SECONDS))


async def store_updates(runtime: Runtime, channel_id: int, updates: list[dict[str, Any]]) -> int:
    """Store updates the way the webhook does, in one transaction; how many were new."""
    created = 0
    async with runtime.db.uow() as uow:
        for update in updates:
            body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
            received = await receive(
                uow,
                channel_id=channel_id,
                external_id=payload_key(update["update_id"]),
                payload=body,
                content_type=CONTENT_TYPE,
            )
            created += received.created
    return created


def poller_from_settings(runtime: Runtime) -> TelegramPoller:
    # Cheap when no channel polls: one query a minute finds nothing to run.
    return TelegramPoller(runtime)
