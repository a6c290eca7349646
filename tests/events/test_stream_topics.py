"""EventBus.open over several topics: one subscription, live on every topic when it returns."""

import asyncio
import uuid

from opora.events.bus import EventBus
from tests.events.helpers import subscribers


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
            assert await subscribers(bus, b, redis_url) == 1
        async with asyncio.timeout(5):
            while await subscribers(bus, a, redis_url) or await subscribers(bus, b, redis_url):
                await asyncio.sleep(0.01)


async def test_iteration_still_yields_messages_alone(bus: EventBus) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    async with await bus.open(topic) as subscription:
        await bus.publish(topic, {"first": True})
        async with asyncio.timeout(5):
            assert await anext(subscription) == {"first": True}
