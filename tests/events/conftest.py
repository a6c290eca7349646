"""A real HTTP server for streaming tests.

httpx's ASGI transport collects the whole response before handing it over, which never happens
for an endless event stream; these tests talk to uvicorn on a loopback port instead, in the same
event loop as the test, so they share its runtime.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from opora.app import create_app
from opora.events.bus import EventBus, MemoryBus, RedisBus
from opora.runtime import Runtime
from tests.events.helpers import LiveServer, Server


@pytest.fixture
async def live_server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    app = create_app(runtime, run_worker=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        lifespan="off",  # the runtime fixture starts and closes the runtime
        log_config=None,
        access_log=False,
        http="h11",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield LiveServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}", server=server)
    finally:
        server.should_exit = True
        await task
        sock.close()


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
