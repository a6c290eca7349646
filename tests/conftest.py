"""Shared fixtures.

The backend is chosen per run: ``OPORA_TEST_BACKEND=sqlite`` (default) or ``postgres`` (real
PostgreSQL, plus the Redis bus). CI runs the suite once with each. Every test gets a fresh runtime
on a migrated database that is emptied after the test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import opora.models  # noqa: F401
from opora.app import create_app
from opora.config import Settings
from opora.db import Base, Database
from opora.kb.search import semantic
from opora.migrate import upgrade
from opora.runtime import Runtime, build_runtime
from tests.support import factories, services
from tests.support.settings import settings_for

BACKEND = os.environ.get("OPORA_TEST_BACKEND", "sqlite")


@pytest.fixture(autouse=True)
def _reranking_as_the_test_found_it() -> Iterator[None]:
    """A runtime built with the default settings switches re-ranking on for the whole process
    (a serving process has one desk); put back after each test so that it does not carry over.
    Not with ``monkeypatch``: an autouse fixture asking for it would undo every test's patches
    after the runtime closed, so a bus a test swapped out would come back unclosed."""
    before = semantic.ENABLED
    yield
    semantic.ENABLED = before


@pytest.fixture(scope="session")
def backend() -> str:
    if BACKEND not in ("sqlite", "postgres"):
        raise pytest.UsageError("OPORA_TEST_BACKEND must be sqlite or postgres")
    return BACKEND


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "opora-test.db"
        url = f"sqlite+aiosqlite:///{path}"
        _migrate_empty(url)
        yield url
        return
    name = f"opora_test_{uuid.uuid4().hex[:10]}"
    url = services.create_pg_database(name)
    _migrate_empty(url)
    yield url
    services.drop_pg_database(name)


def _migrate_empty(url: str) -> None:
    """Migrations write rows too (0026's starter synonyms): they are removed here, so the first
    test starts from empty tables like every later one (each test empties them after itself)."""
    upgrade(url)

    async def empty() -> None:
        db = Database(url)
        try:
            await _empty_tables(db)
        finally:
            await db.dispose()

    asyncio.run(empty())


@pytest.fixture(scope="session")
def redis_url(backend: str) -> str | None:
    if backend != "postgres":
        return None
    services.ensure_redis()
    return services.REDIS_URL


@pytest.fixture
def settings(database_url: str, redis_url: str | None, tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "data", database_url, redis_url=redis_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings)
    await rt.start()
    try:
        yield rt
    finally:
        await _empty_tables(rt.db)
        await rt.close()


async def _empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if db.is_sqlite:
        async with db.engine.begin() as conn:
            for name in tables:
                await conn.execute(text(f'DELETE FROM "{name}"'))
        return
    quoted = ", ".join(f'"{n}"' for n in tables)
    # A browser test's server process may still be reading (a live stream, its worker) while the
    # test empties the tables; TRUNCATE's exclusive locks can then deadlock with it. PostgreSQL
    # aborts one side, so try again rather than leave rows behind for the next test.
    for attempt in range(5):
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def desk(runtime: Runtime) -> factories.Desk:
    return await factories.make_desk(runtime)
