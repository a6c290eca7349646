"""Whole-database snapshots: a refused call must leave every row as it was."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from opora.db import Base
from opora.runtime import Runtime

# Rate-limit bookkeeping is written on purpose even for refused logins.
IGNORED = frozenset({"login_failures"})


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in IGNORED:
                continue
            rows = (await conn.execute(select(table))).all()
            result[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return result
