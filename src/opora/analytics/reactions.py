"""Keeps ``ticket_facts`` with the events: every ticket an event touched gets its facts anew.

The reactor (order 45: after SLA clocks, routing, rules and notifications) only notes the tickets;
one hook, registered to run after the rounds of reactions, recomputes them all once just before
the transaction commits. A transaction that records events over several rounds (a reply, then the
SLA engine's ``sla_fulfilled``, then a rule's change) thus reads each ticket's events once, and the
facts commit or roll back with their cause. Every kind of event counts, because any change (a
reassignment, a new topic, a merge) moves a ticket's facts to another slice.
"""

from __future__ import annotations

from collections.abc import Sequence

from opora.analytics import facts
from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor

ORDER = 45
_PENDING = "analytics.facts_pending"


@reactor(order=ORDER, name="analytics.facts")
async def keep_facts(uow: UnitOfWork, recorded: Sequence[Fact]) -> None:
    pending: set[int] = uow.state.setdefault(_PENDING, set())
    pending.update(f.ticket_id for f in recorded)
    # Hooks registered while hooks run are run after them: this one comes after the reactions.
    uow.before_commit(_refresh)


async def _refresh(uow: UnitOfWork) -> None:
    pending: set[int] = uow.state.pop(_PENDING, set())
    await facts.refresh(uow.session, sorted(pending))
