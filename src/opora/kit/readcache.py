"""A per-process cache of settings that every message reads and admins seldom edit.

Each chat message ran a dozen statements that read the same rows every time (SLA settings and
policies, routing settings, automation rules, the chat channel); on SQLite each costs about a
millisecond of the server's CPU (ADR 0036). The cache keeps plain copies of such reads for a
short time.

Edits are seen:

- **in this process at once**: any flush or ORM-enabled INSERT/UPDATE/DELETE that touches a
  watched table empties the cache, again when that transaction commits (a read in between may
  have cached the old committed value), and the writing session itself bypasses the cache until
  it ends, so it reads its own uncommitted edit and never caches it;
- **in other processes** (the scaled shape) within ``TTL_SECONDS``: an entry is reloaded when it
  is older. Writes by raw SQL outside the ORM are seen the same way, by age.

Cached values are shared by every transaction of the process: callers treat them as read-only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

T = TypeVar("T")

# How stale another process's cached settings may be after an admin's edit.
TTL_SECONDS = 5.0

_CACHE = "opora.read_cache"
_WROTE = "opora.read_cache.wrote"


class ReadCache:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._generation = 0
        self._entries: dict[Hashable, tuple[int, float, Any]] = {}

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    def attach(self, session: AsyncSession) -> None:
        session.info[_CACHE] = self

    async def get(self, session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key``, or ``load()``'s (then cached unless a write raced it)."""
        if self.ttl <= 0 or session.info.get(_WROTE):
            return await load()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == self._generation and now - entry[1] < self.ttl:
            value: T = entry[2]
            return value
        generation = self._generation
        value = await load()
        if generation == self._generation and not session.info.get(_WROTE):
            self._entries[key] = (generation, now, value)
        return value


# Tables whose rows some feature caches; a write to any of them empties the whole cache (edits
# are rare, a refill costs a few statements).
_watched: set[str] = set()


def watch(*tables: str) -> None:
    """Writes to these tables invalidate every cache (called by the features that cache)."""
    _watched.update(tables)


def cache_of(session: AsyncSession) -> ReadCache | None:
    cache = session.info.get(_CACHE)
    return cache if isinstance(cache, ReadCache) else None


async def cached(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """``load()`` through the session's cache; straight ``load()`` for a session without one."""
    cache = cache_of(session)
    return await load() if cache is None else await cache.get(session, key, load)


def _wrote(session: Session, tables: set[str]) -> None:
    cache = session.info.get(_CACHE)
    if isinstance(cache, ReadCache) and not _watched.isdisjoint(tables):
        session.info[_WROTE] = True
        cache.invalidate()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    changed = [*session.new, *session.dirty, *session.deleted]
    if changed:
        _wrote(session, {inspect(obj).mapper.local_table.name for obj in changed})


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if isinstance(name, str):
            _wrote(state.session, {name})


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        cache = session.info.get(_CACHE)
        if isinstance(cache, ReadCache):
            cache.invalidate()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: Any) -> None:
    # What others cached meanwhile is the committed state, still true after the rollback. A
    # savepoint's rollback keeps the mark: writes made before the savepoint are still there.
    if getattr(previous, "parent", None) is None:
        session.info.pop(_WROTE, None)


def copy_row(row: T) -> T:
    """A transient copy of an ORM row's columns: safe to share between sessions (the row itself
    belongs to the session that loaded it, which expires or closes it)."""
    mapper = inspect(type(row))
    copy = mapper.class_manager.new_instance()
    for attr in mapper.column_attrs:
        setattr(copy, attr.key, getattr(row, attr.key))
    return copy  # type: ignore[no-any-return]
