"""The live-update bus: one interface, an in-memory backend (embedded) and Redis pub/sub (scaled).

The bus carries notifications only; the event rows in the database are the record. A subscriber
that misses a message (restart, slow consumer) re-reads the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

PREFIX = "opora:"
# A browser tab that stops reading must not grow memory without bound; it drops old messages.
QUEUE_LIMIT = 1000


class EventBus(ABC):
    @abstractmethod
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    @abstractmethod
    def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        """Messages published on ``topic`` from now on, until the consumer stops iterating."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryBus(EventBus):
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        for queue in list(self._queues.get(topic, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.setdefault(topic, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            subscribers = self._queues.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._queues[topic]


class RedisBus(EventBus):
    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url)

    async def start(self) -> None:
        await self._redis.ping()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        await self._redis.publish(PREFIX + topic, json.dumps(message, default=str))

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(PREFIX + topic)
        try:
            while True:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                if item is None:
                    continue
                try:
                    yield json.loads(item["data"])
                except (ValueError, TypeError):
                    log.warning("dropped an undecodable bus message on %s", topic)
        finally:
            await pubsub.unsubscribe(PREFIX + topic)
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def close(self) -> None:
        await self._redis.aclose()


def make_bus(redis_url: str | None) -> EventBus:
    return RedisBus(redis_url) if redis_url else MemoryBus()
