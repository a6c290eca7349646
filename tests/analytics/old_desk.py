"""A desk left at an older migration with one customer and one ticket, for migrations' data steps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from opora.migrate import upgrade


async def old_desk_with_one_ticket(path: Path, revision: str) -> str:
    """Upgrade a new SQLite file to ``revision``, add one customer and one ticket; its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url, revision)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO customers (id, name, custom_fields, orders_count, total_spent_minor, created_at,"
            " updated_at) VALUES (1, 'C', '{}', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO tickets (id, subject, status, priority, channel_type, customer_id, custom_fields,"
            " created_at, updated_at, status_changed_at) VALUES (1, 'S', 'new', 'normal', 'api', 1, '{}',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    return url
