"""Reactions: feature code that runs inside the transaction that recorded a ticket event.

SLA clocks, routing and automation rules must see a ticket change in the same transaction that
made it, so that a ticket never commits without its SLA targets, and a rule's change commits or
fails with its cause. Each feature module may hold a ``reactions`` module that registers
reactors with :func:`reactor`; :func:`discover` imports them, so the core names none of them.

A reactor gets every matching event of the transaction at once (an inbound batch may create
hundreds of tickets), and events it records itself are offered in the next round. The number of
rounds is capped, which stops a reaction that keeps triggering itself.

Reactions normally run in the transaction of their cause. The inbound pipeline instead
:func:`defer`s the reactions to the messages it stores (ADR 0040): they run in a transaction
of their own right after the message's commit, so that agents see the message without waiting
for them, and a job enqueued with the message runs them if the process dies before that.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opora.db import Database, UnitOfWork
from opora.jobs.service import complete_queued, enqueue

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
_STATE_KEY = "events.pending_facts"


@dataclass(frozen=True, slots=True)
class Fact:
    """A recorded event as plain data: what reactors read."""

    ticket_id: int
    kind: str
    actor_type: str
    actor_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    depth: int = 0  # 0 for events of the original change, n for those caused in round n


Reactor = Callable[[UnitOfWork, Sequence[Fact]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Registration:
    name: str
    kinds: frozenset[str] | None
    order: int
    fn: Reactor


_registry: list[_Registration] = []
_discovered = False


def reactor(*kinds: str, order: int = 100, name: str | None = None) -> Callable[[Reactor], Reactor]:
    """Register ``fn`` for events of ``kinds`` (all kinds when none are given).

    Lower ``order`` runs first in each round: SLA clocks (10) before routing (20) before rules (30).
    Registering the same name again replaces the earlier registration (module reloads in tests).
    """

    def wrap(fn: Reactor) -> Reactor:
        key = name or f"{fn.__module__}.{fn.__qualname__}"
        _registry[:] = [r for r in _registry if r.name != key]
        _registry.append(_Registration(key, frozenset(kinds) or None, order, fn))
        _registry.sort(key=lambda r: r.order)
        return fn

    return wrap


def registered() -> list[str]:
    return [r.name for r in _registry]


def note(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    """Queue ``facts`` for the reactors; they run just before ``uow`` commits."""
    if not facts or not _registry:
        return
    depth = uow.state.get("events.depth", 0)
    pending: list[Fact] = uow.state.setdefault(_STATE_KEY, [])
    if depth:
        facts = [
            Fact(f.ticket_id, f.kind, f.actor_type, f.actor_id, f.data, f.created_at, depth) for f in facts
        ]
    pending.extend(facts)
    uow.before_commit(_run)


async def _run(uow: UnitOfWork) -> None:
    for round_ in range(1, MAX_ROUNDS + 1):
        facts: list[Fact] = uow.state.pop(_STATE_KEY, [])
        if not facts:
            uow.state.pop("events.depth", None)
            return
        uow.state["events.depth"] = round_
        for registration in list(_registry):
            matching = [f for f in facts if registration.kinds is None or f.kind in registration.kinds]
            if matching:
                await registration.fn(uow, matching)
        # Events recorded by reactors registered _run again; this loop handles them instead.
    uow.state.pop("events.depth", None)
    left = uow.state.pop(_STATE_KEY, [])
    if left:
        log.warning(
            "reactions stopped after %d rounds; %d events not reacted to (kinds: %s)",
            MAX_ROUNDS,
            len(left),
            sorted({f.kind for f in left}),
        )


# The job that re-does deferred reactions. It is due only after RESCUE_AFTER: the process that
# stored the message runs them at once (``_run_deferred``) and completes the job then; the job
# runs only if that did not happen (the process died, or the reactions failed).
DEFERRED_TASK = "events.react"
RESCUE_AFTER = timedelta(seconds=10)


def encode_facts(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    return [
        {
            "ticket_id": f.ticket_id,
            "kind": f.kind,
            "actor_type": f.actor_type,
            "actor_id": f.actor_id,
            "data": f.data,
            "created_at": f.created_at.isoformat() if f.created_at is not None else None,
        }
        for f in facts
    ]


def decode_facts(raw: Sequence[dict[str, Any]]) -> list[Fact]:
    return [
        Fact(
            int(f["ticket_id"]),
            str(f["kind"]),
            str(f["actor_type"]),
            f.get("actor_id"),
            dict(f.get("data") or {}),
            datetime.fromisoformat(f["created_at"]) if f.get("created_at") else None,
        )
        for f in raw
    ]


async def defer(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    """React to ``facts`` in a transaction of their own, right after ``uow`` commits.

    The reactions then commit a moment after their cause instead of with it: a ticket is briefly
    without its SLA clocks, assignment or figures. In return the cause's live messages leave
    before the reactions' work. The job enqueued here commits with the cause, so a process that
    dies in between loses nothing: a worker reacts after ``RESCUE_AFTER``.
    """
    if not facts or not _registry:
        return
    raw = encode_facts(facts)
    key = f"{DEFERRED_TASK}:{uuid.uuid4().hex}"
    await enqueue(uow, DEFERRED_TASK, {"facts": raw}, unique_key=key, delay=RESCUE_AFTER)
    database = uow.database

    async def run() -> None:
        await _run_deferred(database, key, raw)

    uow.follow_up(run)


async def _run_deferred(database: Database, key: str, raw: Sequence[dict[str, Any]]) -> None:
    async with database.uow() as uow:
        # Completing the job first claims the work: if a worker has taken the job already (this
        # process was slower than RESCUE_AFTER), nothing is completed and the worker reacts.
        if not await complete_queued(uow, [key]):
            return
        # The facts go the job's way (encoded and back), so both paths see the same data.
        note(uow, decode_facts(raw))


def discover() -> None:
    """Import ``opora.<feature>.reactions`` for every feature package that has one."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("opora")
    for module in pkgutil.iter_modules(package.__path__, prefix="opora."):
        if not module.ispkg:
            continue
        name = f"{module.name}.reactions"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
