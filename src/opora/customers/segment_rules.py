"""Admin use cases for segment rules; every change re-applies the rules to everyone in a job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.automation.conditions import FIGURE_FIELDS, ConditionError, validate
from opora.customers import repository, segments
from opora.customers.models import SegmentChange, SegmentRule
from opora.customers.schemas import SegmentRuleIn, SegmentRuleUpdate
from opora.customers.service import resolve_customer
from opora.db import UnitOfWork
from opora.jobs.service import enqueue
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.time import utcnow

HISTORY_LIMIT = 100


def check_conditions(raw: Any) -> dict[str, Any]:
    try:
        checked = validate(raw, fields=FIGURE_FIELDS)
    except ConditionError as exc:
        raise InvalidInput(f"{exc.path}: {exc}", field=exc.path) from exc
    if not checked["all"] and not checked["any"]:
        # A rule without conditions would put every customer into the segment: surely a mistake.
        raise InvalidInput("Give at least one condition.", field="conditions")
    return checked


async def reapply_everywhere(uow: UnitOfWork) -> None:
    """Queue a walk over every customer (committed with the rule change, or not at all)."""
    segments.forget_rules(uow)
    await enqueue(uow, segments.REFRESH_TASK, {"after_id": 0}, unique_key=f"{segments.REFRESH_TASK}:start")


async def get_rule(uow: UnitOfWork, rule_id: int) -> SegmentRule:
    rule = await repository.get_segment_rule(uow.session, rule_id)
    if rule is None:
        raise NotFound(f"Segment rule {rule_id} does not exist.", field="rule_id")
    return rule


async def create_rule(uow: UnitOfWork, data: SegmentRuleIn) -> SegmentRule:
    conditions = check_conditions(data.conditions)
    now = utcnow()
    rule = SegmentRule(
        name=data.name,
        segment=data.segment,
        position=await repository.next_segment_rule_position(uow.session),
        conditions=conditions,
        is_active=data.is_active,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(rule)
    await uow.session.flush()
    await reapply_everywhere(uow)
    return rule


async def update_rule(uow: UnitOfWork, rule_id: int, data: SegmentRuleUpdate) -> SegmentRule:
    rule = await get_rule(uow, rule_id)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "conditions" in changes:
        changes["conditions"] = check_conditions(changes["conditions"])
    for key, value in changes.items():
        setattr(rule, key, value)
    rule.updated_at = utcnow()
    await uow.session.flush()
    await reapply_everywhere(uow)
    return rule


async def delete_rule(uow: UnitOfWork, rule_id: int) -> None:
    rule = await get_rule(uow, rule_id)
    await uow.session.delete(rule)
    await uow.session.flush()
    await reapply_everywhere(uow)


async def reorder(uow: UnitOfWork, rule_ids: Sequence[int]) -> list[SegmentRule]:
    rules = list(await repository.list_segment_rules(uow.session))
    known = {rule.id: rule for rule in rules}
    if len(set(rule_ids)) != len(rule_ids) or set(rule_ids) != set(known):
        raise InvalidInput("Give every segment rule exactly once.", field="rule_ids")
    for position, rule_id in enumerate(rule_ids):
        known[rule_id].position = position
    await uow.session.flush()
    await reapply_everywhere(uow)
    return sorted(rules, key=lambda r: r.position)


async def history(uow: UnitOfWork, customer_id: int) -> Sequence[SegmentChange]:
    customer = await resolve_customer(uow, customer_id)
    return await repository.segment_changes(uow.session, customer.id, limit=HISTORY_LIMIT)
