"""EventBus.open over several topics: one subscription, live on every topic when it returns."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from opora.events.bus import PREFIX, EventBus, MemoryBus, RedisBus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_url: str | None) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        made: EventBus = MemoryBus()
    elif redis_url is None:
        pytest.skip("the Redis bus runs with OPORA_TEST_BACKEND=postgres")
    else:
        made = RedisBus(redis_url)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def listeners(bus: EventBus, topic: str, redis_url: str | None) -> int:
    if isinstance(bus, MemoryBus):
        return len(bus._queues.get(topic, ()))
    assert redis_url is not None
    client = aioredis.from_url(redis_url)
    try:
        [(_, count)] = await client.pubsub_numsub(PREFIX + topic)
        return int(count)
    finally:
        await client.aclose()


async def test_one_subscription_receives_every_topic_it_opened(bus: EventBus, redis_url: str | None) -> None:
    for _ in range(10):
        a, b, c = (f"test-{uuid.uuid4().hex}" for _ in range(3))
        async with await bus.open(a, b, b) as subscription:
            # No probe, no sleep: both topics are live as soon as open() returns.
            await bus.publish(b, {"n": 1})
            await bus.publish(c, {"n": "not subscribed"})
            await bus.publish(a, {"n": 2, "text": "Привет"})
            async with asyncio.timeout(5):
                assert await subscription.receive() == (b, {"n": 1})
                assert await subscription.receive() == (a, {"n": 2, "text": "Привет"})
            assert await listeners(bus, b, redis_url) == 1
        async with asyncio.timeout(5):
            while await listeners(bus, a, redis_url) or await listeners(bus, b, redis_url):
                await asyncio.sleep(0.01)


async def test_iteration_still_yields_messages_alone(bus: EventBus) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    async with await bus.open(topic) as subscription:
        await bus.publish(topic, {"first": True})
        async with asyncio.timeout(5):
            assert await anext(subscription) == {"first": True}
