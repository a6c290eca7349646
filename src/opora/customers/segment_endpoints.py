"""/api/v1/customers/segment-rules: admins keep the rules that give customers their segment.

Supervisors may read the rules; only admins change them. Every change queues a job that
re-applies the rules to every customer; segments chosen by a person are never touched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from opora.auth.deps import Admin, Supervisor, Uow
from opora.customers import repository, segment_rules
from opora.customers.schemas import MAX_ID, SegmentRuleIn, SegmentRuleOrder, SegmentRuleOut, SegmentRuleUpdate

router = APIRouter(prefix="/segment-rules")

RuleIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("")
async def list_rules(uow: Uow, _principal: Supervisor) -> list[SegmentRuleOut]:
    """In the order they are tried: the first active rule whose conditions hold gives the segment."""
    return [SegmentRuleOut.model_validate(r) for r in await repository.list_segment_rules(uow.session)]


@router.post("", status_code=201)
async def create_rule(data: SegmentRuleIn, uow: Uow, _admin: Admin) -> SegmentRuleOut:
    return SegmentRuleOut.model_validate(await segment_rules.create_rule(uow, data))


@router.post("/reorder")
async def reorder_rules(data: SegmentRuleOrder, uow: Uow, _admin: Admin) -> list[SegmentRuleOut]:
    return [SegmentRuleOut.model_validate(r) for r in await segment_rules.reorder(uow, data.rule_ids)]


@router.get("/{rule_id}")
async def get_rule(rule_id: RuleIdPath, uow: Uow, _principal: Supervisor) -> SegmentRuleOut:
    return SegmentRuleOut.model_validate(await segment_rules.get_rule(uow, rule_id))


@router.patch("/{rule_id}")
async def update_rule(
    rule_id: RuleIdPath, data: SegmentRuleUpdate, uow: Uow, _admin: Admin
) -> SegmentRuleOut:
    return SegmentRuleOut.model_validate(await segment_rules.update_rule(uow, rule_id, data))


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(rule_id: RuleIdPath, uow: Uow, _admin: Admin) -> None:
    await segment_rules.delete_rule(uow, rule_id)
