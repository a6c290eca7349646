import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from opora.events.bus import EventBus
from tests.events.helpers import subscribers


async def consume(
    bus: EventBus, topic: str, ready: asyncio.Event, out: list[dict[str, Any]], limit: int
) -> None:
    async with contextlib.aclosing(bus.subscribe(topic)) as messages:  # type: ignore[type-var]
        async for message in messages:
            if "probe" in message:
                ready.set()
                continue
            out.append(message)
            if len(out) == limit:
                return


async def until_subscribed(bus: EventBus, topic: str, *events: asyncio.Event) -> None:
    """Redis confirms a subscription asynchronously: publish probes until every consumer saw one."""
    async with asyncio.timeout(5):
        while not all(e.is_set() for e in events):
            await bus.publish(topic, {"probe": True})
            await asyncio.sleep(0.01)


async def test_published_messages_reach_every_subscriber_in_order(
    bus: EventBus, redis_url: str | None
) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    ready = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(consume(bus, topic, ready[0], first, 3)),
        asyncio.create_task(consume(bus, topic, ready[1], second, 3)),
    ]
    await until_subscribed(bus, topic, *ready)
    for n in range(3):
        await bus.publish(topic, {"n": n, "text": "Привет"})
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    expected = [{"n": n, "text": "Привет"} for n in range(3)]
    assert first == expected
    assert second == expected
    # Both consumers stopped iterating: their subscriptions are gone.
    async with asyncio.timeout(5):
        while await subscribers(bus, topic, redis_url):
            await asyncio.sleep(0.01)


async def test_cancelled_subscriber_unsubscribes(bus: EventBus, redis_url: str | None) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    ready = asyncio.Event()
    task = asyncio.create_task(consume(bus, topic, ready, [], 100))
    await until_subscribed(bus, topic, ready)
    assert await subscribers(bus, topic, redis_url) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        while await subscribers(bus, topic, redis_url):
            await asyncio.sleep(0.01)
    await bus.publish(topic, {"after": "everyone left"})


async def test_topics_are_separate(bus: EventBus) -> None:
    mine, other = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    ready = asyncio.Event()
    got: list[dict[str, Any]] = []
    task = asyncio.create_task(consume(bus, mine, ready, got, 1))
    await until_subscribed(bus, mine, ready)
    await bus.publish(other, {"to": "other"})
    await bus.publish(mine, {"to": "mine"})
    async with asyncio.timeout(5):
        await task
    assert got == [{"to": "mine"}]


async def test_open_returns_a_live_subscription(bus: EventBus, redis_url: str | None) -> None:
    """No probe, no sleep: what is published right after open() returns is delivered."""
    for _ in range(20):
        topic = f"test-{uuid.uuid4().hex}"
        async with await bus.open(topic) as subscription:
            await bus.publish(topic, {"first": True})
            async with asyncio.timeout(5):
                assert await anext(subscription) == {"first": True}
        async with asyncio.timeout(5):
            while await subscribers(bus, topic, redis_url):
                await asyncio.sleep(0.01)
