"""Lifetime figures kept on the customer row, and segments: a person's choice or a rule's.

A segment chosen by a person (an agent, an admin, the shop's push) is ``manual`` and no rule
ever changes it; "blocked" stays blocked whatever the customer spends. Otherwise the first active
segment rule (in position order) whose conditions the figures satisfy gives the segment, and
none gives no segment. :func:`refresh` recounts the figures of some customers and re-applies the
rules; it runs in the transaction that changed the figures (an order written, a ticket created,
a rating given, a merge), before SLA clocks, routing and automation rules look at the ticket, and
from a periodic job for everyone (rules edited, anything missed).

Every segment change writes a :class:`SegmentChange` row and a ``customer_segment_changed``
event on each of the customer's open tickets, which automation rules may react to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opora.automation.conditions import combine
from opora.customers import figures, repository
from opora.customers.figures import Figures
from opora.customers.models import Customer, SegmentChange, SegmentSource
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, Actor
from opora.kit import readcache
from opora.kit.time import utcnow

REFRESH_TASK = "customers.refresh_segments"
SEGMENT_CHANGED = "customer_segment_changed"
BATCH = 500
_RULES_KEY = "customers.segment_rules"


@dataclass(frozen=True, slots=True)
class RuleData:
    id: int
    segment: str
    conditions: dict[str, Any]


def choose(rules: Sequence[RuleData], found: Figures) -> RuleData | None:
    """The first rule whose conditions the figures satisfy (pure)."""
    for rule in rules:
        if combine(rule.conditions, lambda c: figures.holds(found, c["field"], c["op"], c["value"])):
            return rule
    return None


def is_manual(customer: Customer) -> bool:
    # A segment without a source was written by code that predates segment rules: a person's.
    return customer.segment_source == SegmentSource.MANUAL or (
        customer.segment is not None and customer.segment_source is None
    )


async def active_rules(uow: UnitOfWork) -> list[RuleData]:
    """Read once per transaction: an inbound batch re-applies them to many customers."""
    found: list[RuleData] | None = uow.state.get(_RULES_KEY)
    if found is None:

        async def load() -> list[RuleData]:
            return [
                RuleData(r.id, r.segment, r.conditions)
                for r in await repository.list_segment_rules(uow.session, active_only=True)
            ]

        # And once per process (kit.readcache): every inbound message re-applies them.
        found = list(await readcache.cached(uow.session, "customers.segment_rules", load))
        uow.state[_RULES_KEY] = found
    return found


def forget_rules(uow: UnitOfWork) -> None:
    uow.state.pop(_RULES_KEY, None)


async def refresh(uow: UnitOfWork, customer_ids: Sequence[int], *, actor: Actor = SYSTEM) -> int:
    """Recount these customers' figures and re-apply the segment rules; the number of changes.

    A fixed number of queries for any number of customers: the rows (locked on PostgreSQL, so a
    concurrent transaction counts after this one), three grouped counts, one update per customer
    whose figures moved, and the audit of segment changes.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    customers = await repository.customers_for_figures(uow.session, ids, lock=not uow.is_sqlite)
    counted = await repository.compute_figures(uow.session, ids)
    for customer in customers:
        for key, value in counted[customer.id].items():
            if getattr(customer, key) != value:
                setattr(customer, key, value)
    return await apply_rules(uow, customers, actor=actor)


@dataclass(frozen=True, slots=True)
class _Change:
    customer_id: int
    old: str | None
    new: str | None
    source: str | None
    rule_id: int | None


async def apply_rules(uow: UnitOfWork, customers: Sequence[Customer], *, actor: Actor = SYSTEM) -> int:
    rules = await active_rules(uow)
    changes = []
    for customer in customers:
        if customer.merged_into_id is not None or is_manual(customer):
            continue
        rule = choose(rules, figures.of(customer))
        new = rule.segment if rule else None
        if new == customer.segment:
            continue
        changes.append(
            _Change(customer.id, customer.segment, new, SegmentSource.RULE, rule.id if rule else None)
        )
        customer.segment = new
        customer.segment_source = SegmentSource.RULE if new is not None else None
    await _record(uow, changes, actor)
    return len(changes)


async def set_manual(uow: UnitOfWork, customer: Customer, segment: str | None, *, actor: Actor) -> None:
    """A person chose the segment; ``None`` hands the customer back to the rules."""
    old = customer.segment
    if segment is not None:
        customer.segment, customer.segment_source = segment, SegmentSource.MANUAL
        if old != segment:
            await _record(uow, [_Change(customer.id, old, segment, SegmentSource.MANUAL, None)], actor)
        return
    customer.segment, customer.segment_source = None, None
    if old is not None:
        await _record(uow, [_Change(customer.id, old, None, SegmentSource.MANUAL, None)], actor)
    await apply_rules(uow, [customer], actor=actor)


async def _record(uow: UnitOfWork, changes: Sequence[_Change], actor: Actor) -> None:
    if not changes:
        return
    now = utcnow()
    uow.session.add_all(
        SegmentChange(
            customer_id=c.customer_id,
            old=c.old,
            new=c.new,
            source=c.source,
            rule_id=c.rule_id,
            actor_type=actor.type,
            actor_id=actor.id,
            created_at=now,
        )
        for c in changes
    )
    by_customer = {c.customer_id: c for c in changes}
    for ticket in await repository.open_tickets_of(uow.session, list(by_customer)):
        change = by_customer[ticket.customer_id]
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind=SEGMENT_CHANGED,
            actor=actor,
            data={
                "segment": events.change(change.old, change.new),
                "customer_id": change.customer_id,
                "source": change.source,
                "segment_rule_id": change.rule_id,
            },
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
    await uow.session.flush()
