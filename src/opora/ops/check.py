"""`opora check`: what is configured and whether each dependency answers."""

from __future__ import annotations

import os
import tempfile

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from opora.config import SECRET_FILE, Settings
from opora.db import Database
from opora.migrate import current_revision, head_revision


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def run_checks(settings: Settings) -> tuple[str, bool]:
    lines: list[str] = []
    ok = True

    def report(good: bool, label: str, detail: str) -> None:
        nonlocal ok
        ok = ok and good
        lines.append(f"[{'ok' if good else 'FAIL'}] {label}: {detail}")

    url = settings.resolved_database_url
    shape = "embedded (SQLite)" if settings.is_sqlite else "scaled (PostgreSQL)"
    lines.append(f"Opora configuration — {shape}")
    lines.append(f"  data dir:      {settings.data_dir.resolve()}")
    lines.append(f"  database:      {_masked(url)}")
    lines.append(
        f"  event bus:     {'Redis ' + _masked(settings.redis_url) if settings.redis_url else 'in-memory'}"
    )
    key_source = (
        "OPORA_SECRET_KEY" if settings.secret_key else f"{settings.data_dir / SECRET_FILE} (generated)"
    )
    lines.append(f"  secret key:    {key_source}")
    lines.append(f"  base URL:      {settings.public_url}")
    lines.append(f"  language/zone: {settings.default_language} / {settings.default_timezone}")

    try:
        settings.ensure_data_dir()
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
        report(True, "data dir", "writable")
    except OSError as exc:
        report(False, "data dir", f"not writable: {exc}")

    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        report(True, "database", "reachable")
        current, head = await current_revision(database), head_revision(url)
        report(
            current == head,
            "migrations",
            f"at {current or 'none'}, latest {head}" + ("" if current == head else " — run `opora migrate`"),
        )
    except Exception as exc:  # any driver error is a finding to print, not a crash
        report(False, "database", f"unreachable: {exc.__class__.__name__}: {exc}")
    finally:
        await database.dispose()

    if settings.redis_url:
        client = aioredis.from_url(settings.redis_url)
        try:
            await client.ping()
            report(True, "redis", "reachable")
        except Exception as exc:  # as above
            report(False, "redis", f"unreachable: {exc}")
        finally:
            await client.aclose()
    lines.append(f"pid {os.getpid()}: {'all checks passed' if ok else 'some checks failed'}")
    return "\n".join(lines), ok
