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
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

PREFIX = "opora:"
# A browser tab that stops reading must not grow memory without bound; it drops old messages.
QUEUE_LIMIT = 1000
SUBSCRIBE_TIMEOUT = 5.0


class SubscriptionGap(ConnectionError):
    """The subscription's connection broke and was made again: messages published meanwhile were
    not delivered. A subscriber that must miss nothing re-reads the rows (or makes its clients
    do so) and opens a new subscription."""


class Subscription(ABC):
    """Messages of the topics given to ``EventBus.open``, published after it returned.

    Iterating yields the messages alone; ``receive`` also says which topic each came on, for
    subscribers of several topics (one live stream per browser carries tickets, notifications
    and collision activity). ``receive`` raises ``ConnectionError`` (``SubscriptionGap`` among
    them) once messages may have been missed; it never skips them silently.
    """

    def __aiter__(self) -> Subscription:
        return self

    @abstractmethod
    async def receive(self) -> tuple[str, dict[str, Any]]:
        """The next message and the topic it was published on."""

    async def __anext__(self) -> dict[str, Any]:
        return (await self.receive())[1]

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class EventBus(ABC):
    @abstractmethod
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    @abstractmethod
    async def open(self, topic: str, *more_topics: str) -> Subscription:
        """Subscribe to one or more topics, returning only once every subscription is live: a
        message published after this returns is delivered (a live stream relies on it to miss
        nothing after connect). Messages of all topics arrive in one sequence, in publish order
        per topic."""

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        subscription = await self.open(topic)
        try:
            async for message in subscription:
                yield message
        finally:
            await subscription.aclose()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, topics: Sequence[str]) -> None:
        self._bus = bus
        self._topics = topics
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_LIMIT)
        for topic in topics:
            bus._queues.setdefault(topic, set()).add(self.queue)

    async def receive(self) -> tuple[str, dict[str, Any]]:
        return await self.queue.get()

    async def aclose(self) -> None:
        for topic in self._topics:
            subscribers = self._bus._queues.get(topic)
            if subscribers is not None:
                subscribers.discard(self.queue)
                if not subscribers:
                    del self._bus._queues[topic]


class MemoryBus(EventBus):
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[tuple[str, dict[str, Any]]]]] = {}

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        for queue in list(self._queues.get(topic, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((topic, message))

    async def open(self, topic: str, *more_topics: str) -> Subscription:
        return _MemorySubscription(self, _unique(topic, *more_topics))


class _RedisSubscription(Subscription):
    def __init__(self, pubsub: PubSub, channels: Sequence[str]) -> None:
        self._pubsub = pubsub
        self._channels = channels

    async def confirm(self) -> None:
        # SUBSCRIBE is answered asynchronously, one confirmation per channel; until each has
        # arrived, a publish may miss us. The caller bounds the wait.
        waiting = set(self._channels)
        while waiting:
            item = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            if item is not None and item.get("type") == "subscribe":
                waiting.discard(_text(item.get("channel")))

    async def receive(self) -> tuple[str, dict[str, Any]]:
        while True:
            item = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=30.0)
            if item is None:
                continue
            if item.get("type") == "subscribe":
                # redis-py reconnects a broken pub/sub connection by itself and subscribes again;
                # this confirmation is the only trace of it, and of the messages lost in between.
                raise SubscriptionGap(f"the bus connection was re-established ({_text(item.get('channel'))})")
            if item.get("type") != "message":
                continue
            channel = _text(item.get("channel"))
            try:
                message: dict[str, Any] = json.loads(item["data"])
            except (ValueError, TypeError):
                log.warning("dropped an undecodable bus message on %s", channel)
                continue
            return channel.removeprefix(PREFIX), message

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._pubsub.unsubscribe(*self._channels)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


class RedisBus(EventBus):
    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url)

    async def start(self) -> None:
        await self._redis.ping()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        await self._redis.publish(PREFIX + topic, json.dumps(message, default=str))

    async def open(self, topic: str, *more_topics: str) -> Subscription:
        channels = [PREFIX + name for name in _unique(topic, *more_topics)]
        pubsub = self._redis.pubsub()
        subscription = _RedisSubscription(pubsub, channels)
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await pubsub.subscribe(*channels)
                await subscription.confirm()
        except BaseException:
            await subscription.aclose()
            raise
        return subscription

    async def close(self) -> None:
        await self._redis.aclose()


def _unique(*topics: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(topics))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_bus(redis_url: str | None) -> EventBus:
    return RedisBus(redis_url) if redis_url else MemoryBus()
