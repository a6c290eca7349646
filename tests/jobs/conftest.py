from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from opora.jobs.registry import Registry
from opora.runtime import Runtime
from tests.jobs.worker_proc import CREATE_EFFECTS, DROP_EFFECTS


@pytest.fixture
def registry() -> Registry:
    """A registry of its own per test, so test tasks never leak into the application's."""
    return Registry()


@pytest.fixture
async def effects_table(runtime: Runtime) -> AsyncIterator[None]:
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text(CREATE_EFFECTS))
    yield
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text(DROP_EFFECTS))
