"""Waking workers at once instead of at their next poll.

In the same process the unit of work calls ``Database.job_listeners`` after a commit that
enqueued; across processes PostgreSQL delivers the ``NOTIFY`` sent in the enqueueing transaction.
Both are only hints: a lost notification costs one poll interval, never a job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# Must name repository.NOTIFY_CHANNEL; psycopg wants a literal statement here.
LISTEN_SQL = "LISTEN opora_jobs"


def libpq_conninfo(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(sqlalchemy_url: str, wake: Callable[[], None], *, retry_seconds: float) -> None:
    """Call ``wake`` on every notification; reconnect after errors until cancelled."""
    conninfo = libpq_conninfo(sqlalchemy_url)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(LISTEN_SQL)
                # Anything enqueued while we were not listening would otherwise wait for a poll.
                wake()
                async for _notice in conn.notifies():
                    wake()
        except Exception:
            log.warning("job LISTEN connection lost; polling meanwhile", exc_info=True)
        await asyncio.sleep(retry_seconds)
