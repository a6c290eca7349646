"""Rules fire here, inside the transaction of the event that started them.

Loop protection, in three layers:

* a rule fires at most once per ticket per transaction (``uow.state``), so two rules that undo
  each other (tag A → tag B → tag A ...) stop after each has fired once;
* a rule never fires on an event it caused itself (its id is stamped in the event's data);
* rules ignore events from the last round the reactions run (``Fact.depth``), so that what a rule
  changes is still seen by the SLA clocks and notifications after it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opora.automation import actions, conditions, repository, service
from opora.automation.models import RuleRun
from opora.automation.schemas import TRIGGER_KINDS
from opora.automation.service import TicketState
from opora.db import UnitOfWork
from opora.events.reactions import MAX_ROUNDS, Fact, reactor
from opora.kit.readcache import cached
from opora.kit.time import utcnow

log = logging.getLogger(__name__)

ORDER = 30
_RULES_KEY = "automation.rules"
_FIRED_KEY = "automation.fired"
# Events of the last round are seen by nobody after the rules; a rule acting on them would make
# changes that no SLA clock or notification ever reacts to.
LAST_DEPTH = MAX_ROUNDS - 2


@dataclass(frozen=True, slots=True)
class _RuleData:
    id: int
    name: str
    events: frozenset[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]


async def _rules(uow: UnitOfWork) -> list[_RuleData]:
    found: list[_RuleData] | None = uow.state.get(_RULES_KEY)
    if found is None:

        async def load() -> list[_RuleData]:
            return [
                _RuleData(r.id, r.name, frozenset(r.events), r.conditions, r.actions)
                for r in await repository.list_rules(uow.session, active_only=True)
            ]

        # The process's copy (kit.readcache); this transaction keeps the one it started with.
        found = list(await cached(uow.session, "automation.active_rules", load))
        uow.state[_RULES_KEY] = found
    return found


@reactor(*TRIGGER_KINDS, order=ORDER, name="automation.rules")
async def run_rules(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    rules = await _rules(uow)
    if not rules:
        return
    usable = [f for f in facts if f.depth <= LAST_DEPTH]
    if len(usable) < len(facts):
        log.warning("rules skipped %d events of a chain that is too deep", len(facts) - len(usable))
    kinds = {f.kind for f in usable}
    rules = [r for r in rules if r.events & kinds]
    if not rules:
        return
    by_ticket: dict[int, list[Fact]] = defaultdict(list)
    for fact in usable:
        by_ticket[fact.ticket_id].append(fact)
    states = await service.load_states(uow, list(by_ticket))
    message_ids = [
        int(f.data["message_id"]) for f in usable if f.kind == "message_added" and f.data.get("message_id")
    ]
    messages = await repository.messages_by_id(uow.session, message_ids)
    fired: set[tuple[int, int]] = uow.state.setdefault(_FIRED_KEY, set())
    runs: list[RuleRun] = []
    now = utcnow()
    for rule in rules:
        for ticket_id, ticket_facts in by_ticket.items():
            state = states.get(ticket_id)
            if state is None or state.ticket.merged_into_id is not None or (rule.id, ticket_id) in fired:
                continue
            for fact in ticket_facts:
                if fact.kind not in rule.events or fact.data.get("rule_id") == rule.id:
                    continue
                message = messages.get(int(fact.data.get("message_id") or 0))
                ctx = conditions.Context(
                    ticket=service.view_of(state),
                    event_kind=fact.kind,
                    message=service.message_view(message),
                    now=now,
                    calendar=state.calendar,
                )
                if not conditions.matches(rule.conditions, ctx):
                    continue
                fired.add((rule.id, ticket_id))
                runs.append(await _fire(uow, rule, state, fact))
                break
    if runs:
        await repository.add_runs(uow.session, runs)


async def _fire(uow: UnitOfWork, rule: _RuleData, state: TicketState, fact: Fact) -> RuleRun:
    ctx = actions.ActionContext(
        uow=uow,
        principal=actions.rule_principal(rule.id),
        ticket=state.ticket,
        tags=state.tags,
        fact=fact,
        rule_id=rule.id,
        rule_name=rule.name,
        values=service.values_of(state),
        language=service.language_of(state),
    )
    results = []
    with actions.attributed_to(uow.session, rule.id):
        for action in rule.actions:
            parsed = actions.parse(action)
            if parsed is None:
                results.append(
                    actions.outcome(str(action.get("type")), "skipped", reason="unknown action type")
                )
                continue
            spec, params = parsed
            results.append(await spec.apply(ctx, params))
    return RuleRun(
        rule_id=rule.id,
        rule_name=rule.name,
        ticket_id=state.ticket.id,
        event_kind=fact.kind,
        event_actor_type=fact.actor_type,
        depth=fact.depth,
        actions=results,
        created_at=utcnow(),
    )
