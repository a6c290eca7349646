"""/api/v1/automation: rules (admins write, supervisors read), runs, dry run, webhooks, allow-list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from opora.auth.deps import Admin, RuntimeDep, Supervisor, Uow
from opora.automation import actions, repository, service
from opora.automation.conditions import FIELDS
from opora.automation.schemas import (
    TRIGGER_KINDS,
    AllowIn,
    AllowOut,
    DeliveryOut,
    DryRunIn,
    DryRunOut,
    ReorderIn,
    RuleIn,
    RuleOut,
    RuleRunOut,
    RuleUpdate,
    WebhookIn,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1/automation", tags=["automation"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=500)]


@router.get("/vocabulary")
async def vocabulary(_principal: Supervisor) -> dict[str, object]:
    """What a rule may say: event kinds, condition fields with their operators, action types."""
    return {
        "events": list(TRIGGER_KINDS),
        "conditions": {name: list(spec.ops) for name, spec in FIELDS.items()},
        "actions": actions.kinds(),
    }


@router.get("/rules")
async def list_rules(uow: Uow, _principal: Supervisor) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in await repository.list_rules(uow.session)]


@router.post("/rules", status_code=201)
async def create_rule(data: RuleIn, uow: Uow, admin: Admin) -> RuleOut:
    return RuleOut.model_validate(await service.create_rule(uow, admin, data))


@router.post("/rules/reorder")
async def reorder_rules(data: ReorderIn, uow: Uow, _admin: Admin) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in await service.reorder(uow, data.rule_ids)]


@router.post("/rules/dry-run")
async def dry_run(data: DryRunIn, uow: Uow, _principal: Supervisor) -> DryRunOut:
    """Which rules would fire on the ticket for the event and what they would change; writes nothing."""
    return await service.dry_run(uow, data)


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: int, uow: Uow, _principal: Supervisor) -> RuleOut:
    return RuleOut.model_validate(await service.get_rule(uow, rule_id))


@router.patch("/rules/{rule_id}")
async def update_rule(rule_id: int, data: RuleUpdate, uow: Uow, _admin: Admin) -> RuleOut:
    return RuleOut.model_validate(await service.update_rule(uow, rule_id, data))


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response)
async def delete_rule(rule_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_rule(uow, rule_id)
    return Response(status_code=204)


@router.get("/runs")
async def list_runs(
    uow: Uow,
    _principal: Supervisor,
    rule_id: int | None = None,
    ticket_id: int | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RuleRunOut]:
    """The audit: which rule fired on which ticket, on what event, and what each action did."""
    rows, next_cursor = await service.list_runs(
        uow, rule_id=rule_id, ticket_id=ticket_id, limit=limit, cursor=cursor
    )
    return Page(items=[RuleRunOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/webhooks")
async def list_webhooks(uow: Uow, runtime: RuntimeDep, _admin: Admin) -> list[WebhookOut]:
    return [service.webhook_out(w, runtime) for w in await repository.list_webhooks(uow.session)]


@router.post("/webhooks", status_code=201)
async def create_webhook(data: WebhookIn, uow: Uow, runtime: RuntimeDep, _admin: Admin) -> WebhookWithSecret:
    """The answer holds the signing secret; later reads show only its last characters."""
    webhook = await service.create_webhook(uow, runtime, data)
    out = service.webhook_out(webhook, runtime, with_secret=True)
    assert isinstance(out, WebhookWithSecret)
    return out


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: int, uow: Uow, runtime: RuntimeDep, _admin: Admin) -> WebhookOut:
    return service.webhook_out(await service.get_webhook(uow, webhook_id), runtime)


@router.patch("/webhooks/{webhook_id}")
async def update_webhook(
    webhook_id: int, data: WebhookUpdate, uow: Uow, runtime: RuntimeDep, _admin: Admin
) -> WebhookWithSecret | WebhookOut:
    """With ``rotate_secret`` the answer holds the new secret, once."""
    webhook = await service.update_webhook(uow, runtime, webhook_id, data)
    return service.webhook_out(webhook, runtime, with_secret=data.rotate_secret)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(webhook_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_webhook(uow, webhook_id)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/ping", status_code=202)
async def ping_webhook(webhook_id: int, uow: Uow, _admin: Admin) -> DeliveryOut:
    return await service.send_test(uow, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: int, uow: Uow, _admin: Admin, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[DeliveryOut]:
    """The delivery log, newest first, each with every attempt (status code, duration, error)."""
    items, next_cursor = await service.list_deliveries(uow, webhook_id, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/outbound-allow")
async def list_allowed(uow: Uow, _admin: Admin) -> list[AllowOut]:
    return [AllowOut.model_validate(r) for r in await repository.list_allowed(uow.session)]


@router.post("/outbound-allow", status_code=201)
async def add_allowed(data: AllowIn, uow: Uow, _admin: Admin) -> AllowOut:
    """Let webhooks reach a private address or network (e.g. ``10.0.0.0/8``, ``127.0.0.1``)."""
    return AllowOut.model_validate(await service.add_allowed(uow, data))


@router.delete("/outbound-allow/{allow_id}", status_code=204, response_class=Response)
async def delete_allowed(allow_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_allowed(uow, allow_id)
    return Response(status_code=204)
