"""Engines, the declarative base and the unit of work.

One request or one job is one transaction (DESIGN invariant 2): application code never commits;
the unit of work commits once at the end and only then runs its after-commit hooks (bus
publishes, worker wake-ups), so nothing leaves the process for a transaction that rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from opora.kit.readcache import TTL_SECONDS, ReadCache
from opora.kit.time import as_utc

log = logging.getLogger(__name__)

# Stable constraint names: Alembic needs them to alter tables on SQLite (batch mode).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are always stored and returned as tz-aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Opora stores UTC-aware timestamps only")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# An execution option that marks a connection's transactions as reads only (``Database.reader``).
READ_ONLY = "opora_read_only"


class Publisher(Protocol):
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...


Hook = Callable[[], Awaitable[None]]


class Database:
    """Holds the engine and the pieces a unit of work needs after commit."""

    def __init__(self, url: str, *, echo: bool = False, cache_seconds: float = TTL_SECONDS) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = _make_engine(url, echo=echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self.publisher: Publisher | None = None
        self.cache = ReadCache(ttl=cache_seconds)
        # Called after any commit that enqueued a job, so in-process workers start at once.
        self.job_listeners: list[Callable[[], None]] = []

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    def reader(self) -> UnitOfWork:
        """A unit of work for reads only (a live push's read-back, a socket's history).

        Every SQLite transaction otherwise starts with BEGIN IMMEDIATE and so queues for the one
        write lock behind any writer (the worker's jobs, other requests); in WAL mode a deferred
        transaction reads beside the writer instead. It must not write: on SQLite a deferred
        transaction that tries to fails at once when another writer got there first.
        """
        return UnitOfWork(self, read_only=True)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _make_engine(url: str, *, echo: bool) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so we can BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLite's lower() folds ASCII only; searches must match «Заказ» for «заказ».
        dbapi_connection.create_function("opora_fold", 1, _fold, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail at once with SQLITE_BUSY when another
        # process holds the lock; IMMEDIATE waits for the lock instead (busy_timeout).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


class fold(FunctionElement[str]):
    """Case-folded text for case-insensitive matching that also folds Cyrillic on SQLite."""

    type = String()
    inherit_cache = True


@compiles(fold)
def _fold_default(element: fold, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold, "sqlite")
def _fold_sqlite(element: fold, compiler: Any, **kw: Any) -> str:
    return f"opora_fold({compiler.process(element.clauses, **kw)})"


class UnitOfWork:
    """A session plus hooks that run only after a successful commit.

    Use as ``async with db.uow() as uow:``; leaving the block normally commits, an exception
    rolls back and drops the hooks.
    """

    def __init__(self, database: Database, *, read_only: bool = False) -> None:
        self.database = database
        self.session: AsyncSession = (
            database.sessions(bind=database.read_engine) if read_only else database.sessions()
        )
        database.cache.attach(self.session)
        self._hooks: list[Hook] = []
        self._follow_ups: list[Hook] = []
        self._before_commit: list[Callable[[UnitOfWork], Awaitable[None]]] = []
        self._enqueued_jobs = False
        self._done = False
        # Per-transaction scratch space for feature modules (e.g. events awaiting reactions).
        self.state: dict[str, Any] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.database.is_sqlite

    def after_commit(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def follow_up(self, work: Hook) -> None:
        """Run ``work`` once this transaction has committed and its after-commit hooks (the live
        messages) have run. ``work`` opens its own unit of work.

        For work that may wait a moment but not for the live messages: a visitor's message is
        announced to agents first and its reactions run next (ADR 0040). Whatever ``work`` must
        not lose needs a job enqueued in this transaction as its safety net, because a process
        that dies after the commit never runs it.
        """
        self._follow_ups.append(work)

    def before_commit(self, hook: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        """Run ``hook`` inside the transaction just before it commits (once per registration).

        Reactions to this transaction's events use it, so that what they change commits, or
        fails, together with the change that caused them.
        """
        if hook not in self._before_commit:
            self._before_commit.append(hook)

    def publish(self, topic: str, message: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        """Queue a bus message that leaves only if this transaction commits.

        A callable is built after the commit, when rows added without a flush have their ids.
        """
        publisher = self.database.publisher
        if publisher is None:
            return

        async def _send() -> None:
            await publisher.publish(topic, message() if callable(message) else message)

        self._hooks.append(_send)

    def note_job_enqueued(self) -> None:
        self._enqueued_jobs = True

    async def commit(self) -> None:
        if self._done:
            raise RuntimeError("unit of work already finished")
        try:
            while self._before_commit:
                hook = self._before_commit.pop(0)
                await hook(self)
        except BaseException:
            await self.rollback()
            raise
        self._done = True
        try:
            await self.session.commit()
        finally:
            await self.session.close()
        await self._run_hooks()

    async def restart(self) -> None:
        """Roll back what was done so far and keep going in a fresh transaction.

        For batch work that first tries the fast path and, on an error, redoes the batch
        carefully. Hooks of the abandoned attempt are dropped with it.
        """
        if self._done:
            raise RuntimeError("unit of work already finished")
        self._hooks.clear()
        self._follow_ups.clear()
        self._before_commit.clear()
        self.state.clear()
        self._enqueued_jobs = False
        await self.session.rollback()

    async def rollback(self) -> None:
        if self._done:
            return
        self._done = True
        self._hooks.clear()
        self._follow_ups.clear()
        self._before_commit.clear()
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def _run_hooks(self) -> None:
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                await hook()
            except Exception:
                # The transaction is committed; a lost live update must not turn it into an error.
                log.exception("after-commit hook failed")
        if self._enqueued_jobs:
            for listener in self.database.job_listeners:
                listener()
        follow_ups, self._follow_ups = self._follow_ups, []
        for work in follow_ups:
            try:
                await work()
            except Exception:
                # Committed already; the follow-up's safety-net job redoes its work later.
                log.exception("follow-up after commit failed")

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._done:
            await self.commit()
        else:
            await self.rollback()
