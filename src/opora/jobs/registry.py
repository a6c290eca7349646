"""Task and schedule registration.

Feature modules declare their jobs in their own ``tasks.py``::

    @task("surveys.send", max_attempts=8, timeout=60)
    async def send_survey(ctx: JobContext, payload: dict[str, Any]) -> None: ...

    @periodic("sla.check_breaches", every=timedelta(minutes=1))
    async def check_breaches(ctx: JobContext, payload: dict[str, Any]) -> None: ...

The worker imports every ``opora.<package>.tasks`` module (``autodiscover``) so that the core never
has to know which features exist. Tests build their own ``Registry`` to stay isolated.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opora.db import UnitOfWork
    from opora.runtime import Runtime

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRY_BASE = 5.0
DEFAULT_RETRY_CAP = 3600.0


@dataclass(frozen=True)
class JobContext:
    """What a handler gets besides its payload.

    ``uow`` is the job's own transaction: whatever the handler writes there commits together with
    the job being marked done, or not at all. Write through it only: a second unit of work would
    commit on its own, and on SQLite it would wait for the write lock this one holds.
    """

    uow: UnitOfWork
    runtime: Runtime
    job_id: int
    task: str
    attempt: int
    max_attempts: int
    worker_id: str

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    handler: Handler
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float | None = DEFAULT_TIMEOUT
    retry_base: float = DEFAULT_RETRY_BASE
    retry_cap: float = DEFAULT_RETRY_CAP

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap, rng=rng)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    every: timedelta

    @property
    def interval_seconds(self) -> int:
        return int(self.every.total_seconds())


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": a delay in ``[d/2, d]`` with ``d = base * 2**(n-1)``.

    The lower bound keeps retries from hammering a failing provider; the random half spreads a burst
    of jobs that failed together (an outage) so they do not all come back at the same instant.
    """
    exponent = max(0, attempt - 1)
    # Cap the exponent first: 2**attempt for a large attempt count would overflow a float.
    ceiling = cap if exponent >= 64 else min(cap, base * (2.0**exponent))
    draw = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2


class Registry:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskSpec] = {}
        self.schedules: dict[str, ScheduleSpec] = {}

    def task(
        self,
        name: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
    ) -> Callable[[Handler], Handler]:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not name or len(name) > 100:
            raise ValueError("a task name must have 1 to 100 characters")

        def register(handler: Handler) -> Handler:
            existing = self.tasks.get(name)
            # Re-importing a module (reloads, test collection) registers the same function again.
            if existing is not None and _qualname(existing.handler) != _qualname(handler):
                raise ValueError(f"task {name!r} is already registered by {_qualname(existing.handler)}")
            self.tasks[name] = TaskSpec(name, handler, max_attempts, timeout, retry_base, retry_cap)
            return handler

        return register

    def periodic(
        self,
        name: str,
        *,
        every: timedelta,
        max_attempts: int = 3,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Callable[[Handler], Handler]:
        """Register a task that the scheduler enqueues once per ``every`` across all processes."""
        if every < timedelta(seconds=1) or every.total_seconds() != int(every.total_seconds()):
            raise ValueError("a schedule interval must be a whole number of seconds, at least 1")
        register_task = self.task(name, max_attempts=max_attempts, timeout=timeout)

        def register(handler: Handler) -> Handler:
            register_task(handler)
            self.schedules[name] = ScheduleSpec(name, every)
            return handler

        return register

    def get(self, name: str) -> TaskSpec | None:
        return self.tasks.get(name)


def _qualname(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


default_registry = Registry()
task = default_registry.task
periodic = default_registry.periodic

_discovered = False


def autodiscover(package: str = "opora") -> None:
    """Import every ``<package>.<feature>.tasks`` module so their decorators run."""
    global _discovered
    if _discovered and package == "opora":
        return
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg:
            continue
        name = f"{package}.{info.name}.tasks"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    if package == "opora":
        _discovered = True
