"""A broken Redis connection must be reported, never skipped over: redis-py reconnects a pub/sub
connection and subscribes again by itself, and what was published in between is gone."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from opora.events.bus import RedisBus, SubscriptionGap


async def test_a_silently_remade_redis_connection_raises_a_gap_instead_of_skipping_messages(
    redis_url: str | None,
) -> None:
    if redis_url is None:
        pytest.skip("the Redis bus runs with OPORA_TEST_BACKEND=postgres")
    bus = RedisBus(redis_url)
    await bus.start()
    topic = f"test-{uuid.uuid4().hex}"
    try:
        subscription = await bus.open(topic)
        await bus.publish(topic, {"n": 1})
        async with asyncio.timeout(5):
            assert await subscription.receive() == (topic, {"n": 1})
        # The connection drops (a Redis restart, a proxy, a killed client) ...
        connection = subscription._pubsub.connection  # type: ignore[attr-defined]
        assert connection is not None
        await connection.disconnect()
        # ... and this message, published while nobody listens, is lost for good.
        await bus.publish(topic, {"n": 2})
        with pytest.raises(SubscriptionGap):
            async with asyncio.timeout(5):
                await subscription.receive()
        await subscription.aclose()
    finally:
        await bus.close()
