"""Migrations and models agree, and the schema goes down and up again on this backend."""

import asyncio
import uuid
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from opora.db import Base, Database
from opora.migrate import alembic_config, upgrade
from tests.support import services


async def _diff(url: str) -> list[object]:
    database = Database(url)

    def compare(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await database.dispose()


async def test_models_match_migrations_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await asyncio.to_thread(upgrade, url)
    assert await _diff(url) == []
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    await asyncio.to_thread(upgrade, url)
    assert await _diff(url) == []


async def test_models_match_migrations_on_postgres() -> None:
    name = f"opora_migration_check_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(services.create_pg_database, name)
    try:
        await asyncio.to_thread(upgrade, url)
        assert await _diff(url) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        await asyncio.to_thread(upgrade, url)
    finally:
        services.drop_pg_database(name)
