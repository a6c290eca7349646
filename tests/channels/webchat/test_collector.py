"""Chat sockets under the serving collector policy (ADR 43): a socket that was frozen while open
(as every long-lived socket is) is still freed once it closes, and many connect / disconnect
rounds leave the process no larger."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opora.channels.webchat.hub import Hub, Socket
from opora.ops.collector import Collector
from tests.channels.webchat.support import AsgiSocket, session

SOCKETS = 20
ROUNDS = 5


def frozen(obj: object) -> bool:
    return gc.is_tracked(obj) and all(o is not obj for g in range(3) for o in gc.get_objects(g))


def objects() -> int:
    """Every tracked object of the process, frozen or not."""
    return gc.get_freeze_count() + len(gc.get_objects())


@pytest.fixture
async def policy() -> AsyncIterator[Collector]:
    # Stepped by hand, with resident memory held constant: the test decides every major.
    collector = Collector(young_objects=1_000, growth=0.5, check_seconds=3600, resident=lambda: 1 << 30)
    collector.start()
    yield collector
    await collector.stop()


async def test_sockets_frozen_while_open_are_freed_when_closed_and_rounds_leave_nothing(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], policy: Collector
) -> None:
    visitors = [await session(http, language="ru") for _ in range(SOCKETS)]
    after_round: list[int] = []
    for round_no in range(ROUNDS):
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(AsgiSocket(app)) for _ in visitors]
            for socket, visitor in zip(sockets, visitors, strict=True):
                await socket.hello(visitor["token"])
            await sockets[0].send({"type": "message", "client_id": f"r{round_no}", "text": "Где мой заказ?"})
            await sockets[0].receive_types("ack", "message")
            hub: Hub = app.state.webchat_hub
            held: list[weakref.ref[Socket]] = [
                weakref.ref(s) for group in hub._by_visitor.values() for s in group
            ]
            assert len(held) == SOCKETS
            policy.minor()  # what an open socket holds has lived long enough to be frozen
            assert all(frozen(ref()) for ref in held)
        assert hub.connections == 0
        policy.major()
        assert [ref() for ref in held] == [None] * SOCKETS  # gone, frozen or not
        after_round.append(objects())
    # The first round warms caches (compiled statements, the hub, the channel); after it, a round
    # of 20 sockets (each ~300 objects while open) leaves the process as large as it found it.
    grown = max(after_round[1:]) - after_round[1]
    assert grown < SOCKETS * 20, after_round
