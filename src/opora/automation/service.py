"""Use cases of automation: rule admin, the dry run, the audit, webhooks and the allow-list.

Rule execution itself lives in ``reactions.py``; both read tickets through :func:`load_states`,
so that what the dry run predicts is computed exactly as the real run would compute it.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opora.auth.permissions import Principal
from opora.automation import actions, conditions, repository

# Importing webhooks also registers the call_webhook action.
from opora.automation import webhooks as _webhooks
from opora.automation.conditions import ConditionError, Context, MessageView, TicketView
from opora.automation.models import OutboundAllow, Rule, RuleRun, Webhook, WebhookDelivery
from opora.automation.schemas import (
    AllowIn,
    AttemptOut,
    DeliveryOut,
    DryRunIn,
    DryRunOut,
    DryRunRule,
    RuleIn,
    RuleUpdate,
    WebhookIn,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from opora.customers import figures
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.kit import safe_http
from opora.kit.errors import Conflict, InvalidInput, NotFound
from opora.kit.pagination import cursor_int, decode_cursor, split_page
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.sla.calendar import CALENDAR_24_7, BusinessCalendar
from opora.tickets import repository as tickets_repo
from opora.tickets.models import Message, Ticket

# -- what a rule sees of a ticket ---------------------------------------------------------------


@dataclass
class TicketState:
    ticket: Ticket
    tags: set[str]
    customer: Customer | None
    email: str | None
    calendar: BusinessCalendar


async def load_states(uow: UnitOfWork, ticket_ids: Sequence[int]) -> dict[int, TicketState]:
    """Tickets with their tags, customer and team calendar: a fixed number of queries for any batch."""
    session = uow.session
    tickets = await repository.tickets_by_id(session, ticket_ids)
    if not tickets:
        return {}
    tags = await tickets_repo.tags_of(session, list(tickets))
    customer_ids = [t.customer_id for t in tickets.values()]
    customers = await repository.customers_by_id(session, customer_ids)
    emails = await repository.emails_of(session, customer_ids)
    team_ids = [t.team_id for t in tickets.values() if t.team_id is not None]
    calendars = {
        team_id: _calendar(row)
        for team_id, row in (await repository.calendars_of_teams(session, team_ids)).items()
    }
    return {
        ticket_id: TicketState(
            ticket=ticket,
            tags=set(tags[ticket_id]),
            customer=customers.get(ticket.customer_id),
            email=emails.get(ticket.customer_id),
            calendar=calendars.get(ticket.team_id, CALENDAR_24_7) if ticket.team_id else CALENDAR_24_7,
        )
        for ticket_id, ticket in tickets.items()
    }


def _calendar(row: Any) -> BusinessCalendar:
    try:
        return BusinessCalendar(row.timezone, row.weekly_hours or {}, row.holiday_country)
    except ValueError:
        # A broken calendar must not stop every rule; the SLA module reports it to admins.
        return CALENDAR_24_7


def view_of(state: TicketState) -> TicketView:
    ticket = state.ticket
    return TicketView(
        id=ticket.id,
        status=ticket.status,
        priority=ticket.priority,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
        channel_type=ticket.channel_type,
        topic=ticket.topic,
        language=ticket.language,
        tags=frozenset(state.tags),
        # Read defensively: segments may live elsewhere in a later customers schema.
        customer_segment=getattr(state.customer, "segment", None),
        created_at=ticket.created_at,
        last_customer_message_at=ticket.last_customer_message_at,
        # Columns of the customer row loaded above: a figure condition costs no query.
        customer_figures=figures.of(state.customer) if state.customer is not None else None,
    )


def values_of(state: TicketState) -> dict[str, str | None]:
    name = (state.customer.name if state.customer else "") or ""
    return {
        "customer.name": name or None,
        "customer.first_name": name.split()[0] if name.split() else None,
        "customer.email": state.email,
        "ticket.number": str(state.ticket.id),
        "ticket.subject": state.ticket.subject or None,
        "ticket.status": state.ticket.status,
    }


def language_of(state: TicketState) -> str:
    """The ticket's language, else the customer's; Russian when neither is known."""
    return state.ticket.language or getattr(state.customer, "language", None) or "ru"


def message_view(message: Message | None) -> MessageView | None:
    if message is None:
        return None
    return MessageView(
        text=message.text or "",
        direction=message.direction,
        author_type=message.author_type,
        internal=message.is_internal,
    )


# -- rules --------------------------------------------------------------------------------------


async def _check_rule(
    uow: UnitOfWork, raw_conditions: Any, raw_actions: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        checked_conditions = conditions.validate(raw_conditions)
    except ConditionError as exc:
        raise InvalidInput(f"{exc.path}: {exc}", field=exc.path) from exc
    try:
        checked_actions = actions.validate(raw_actions)
    except actions.ActionError as exc:
        raise InvalidInput(f"{exc.path}: {exc}", field=exc.path) from exc
    await _check_references(uow, checked_actions)
    return checked_conditions, checked_actions


async def _check_references(uow: UnitOfWork, acts: list[dict[str, Any]]) -> None:
    """Ids in actions must exist when the rule is saved; conditions may name any id."""
    session = uow.session
    for index, action in enumerate(acts):
        where, type_ = f"actions[{index}]", action["type"]
        problem: tuple[str, str] | None = None
        if type_ == "set_team" and action["team_id"] is not None:
            if not await repository.existing_team_ids(session, [action["team_id"]]):
                problem = (f"Team {action['team_id']} does not exist.", "team_id")
        elif type_ in ("set_assignee", "notify_agents"):
            wanted = action["agent_ids"] if type_ == "notify_agents" else [action["assignee_id"]]
            wanted = [w for w in wanted if w is not None]
            missing = sorted(set(wanted) - await repository.active_agent_ids(session, wanted))
            if missing:
                key = "agent_ids" if type_ == "notify_agents" else "assignee_id"
                problem = (f"Agent {missing[0]} does not exist or is disabled.", key)
        elif type_ == "call_webhook" and not await repository.existing_webhook_ids(
            session, [action["webhook_id"]]
        ):
            problem = (f"Webhook {action['webhook_id']} does not exist.", "webhook_id")
        if problem is not None:
            raise InvalidInput(problem[0], field=f"{where}.{problem[1]}")


async def get_rule(uow: UnitOfWork, rule_id: int) -> Rule:
    rule = await repository.get_rule(uow.session, rule_id)
    if rule is None:
        raise NotFound(f"Rule {rule_id} does not exist.", field="rule_id")
    return rule


async def create_rule(uow: UnitOfWork, principal: Principal, data: RuleIn) -> Rule:
    checked_conditions, checked_actions = await _check_rule(uow, data.conditions, data.actions)
    now = utcnow()
    rule = Rule(
        name=data.name,
        description=data.description,
        is_active=data.is_active,
        position=await repository.next_position(uow.session),
        events=data.events,
        conditions=checked_conditions,
        actions=checked_actions,
        created_by_id=principal.agent_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(rule)
    await uow.session.flush()
    return rule


async def update_rule(uow: UnitOfWork, rule_id: int, data: RuleUpdate) -> Rule:
    rule = await get_rule(uow, rule_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "is_active", "events", "conditions", "actions", "description"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    checked_conditions, checked_actions = await _check_rule(
        uow, changes.get("conditions", rule.conditions), changes.get("actions", rule.actions)
    )
    for key in ("name", "description", "is_active", "events"):
        if key in changes:
            setattr(rule, key, changes[key])
    rule.conditions = checked_conditions
    rule.actions = checked_actions
    rule.updated_at = utcnow()
    await uow.session.flush()
    return rule


async def delete_rule(uow: UnitOfWork, rule_id: int) -> None:
    rule = await get_rule(uow, rule_id)
    await uow.session.delete(rule)
    await uow.session.flush()


async def reorder(uow: UnitOfWork, rule_ids: Sequence[int]) -> list[Rule]:
    rules = list(await repository.list_rules(uow.session))
    known = {rule.id: rule for rule in rules}
    if len(set(rule_ids)) != len(rule_ids):
        raise InvalidInput("A rule id is given twice.", field="rule_ids")
    if set(rule_ids) != set(known):
        missing = sorted(set(known) - set(rule_ids))
        extra = sorted(set(rule_ids) - set(known))
        detail = f"rule {extra[0]} does not exist" if extra else f"rule {missing[0]} is missing"
        raise InvalidInput(f"Give every rule exactly once: {detail}.", field="rule_ids")
    for position, rule_id in enumerate(rule_ids):
        known[rule_id].position = position
    await uow.session.flush()
    return sorted(rules, key=lambda r: r.position)


async def list_runs(
    uow: UnitOfWork, *, rule_id: int | None, ticket_id: int | None, limit: int, cursor: str | None
) -> tuple[list[RuleRun], str | None]:
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_runs(
        uow.session, rule_id=rule_id, ticket_id=ticket_id, limit=limit + 1, before_id=before
    )
    return split_page(found, limit, lambda run: (run.id,))


# -- the dry run --------------------------------------------------------------------------------

_SIMULATED = ("status", "priority", "topic", "team_id", "assignee_id")


async def dry_run(uow: UnitOfWork, data: DryRunIn) -> DryRunOut:
    """Which active rules would fire on this ticket for this event, and what each would change.

    Nothing is written. Earlier rules' predicted changes are applied to the ticket the later rules
    see, as in a real run; chains (rules firing on events other rules cause) are not predicted.
    """
    states = await load_states(uow, [data.ticket_id])
    state = states.get(data.ticket_id)
    if state is None:
        raise NotFound(f"Ticket {data.ticket_id} does not exist.", field="ticket_id")
    message = None
    if data.event_kind == "message_added":
        message = message_view(await repository.last_message(uow.session, state.ticket.id))
    view = view_of(state)
    values = values_of(state)
    language = language_of(state)
    now = utcnow()
    result = []
    for rule in await repository.list_rules(uow.session, active_only=True):
        if data.event_kind not in rule.events:
            continue
        ctx = Context(
            ticket=view, event_kind=data.event_kind, message=message, now=now, calendar=state.calendar
        )
        if not conditions.matches(rule.conditions, ctx):
            result.append(
                DryRunRule(
                    rule_id=rule.id,
                    name=rule.name,
                    position=rule.position,
                    fires=False,
                    reason="conditions do not hold",
                    actions=[],
                )
            )
            continue
        predicted = []
        for action in rule.actions:
            parsed = actions.parse(action)
            if parsed is None:
                predicted.append(
                    actions.outcome(action.get("type", "?"), "skipped", reason="unknown action type")
                )
                continue
            spec, params = parsed
            described = spec.describe(params, view, values, language)
            predicted.append(described)
            view = _simulate(view, described)
        result.append(
            DryRunRule(
                rule_id=rule.id,
                name=rule.name,
                position=rule.position,
                fires=True,
                reason=None,
                actions=predicted,
            )
        )
    return DryRunOut(ticket_id=data.ticket_id, event_kind=data.event_kind, rules=result)


def _simulate(view: TicketView, described: Mapping[str, Any]) -> TicketView:
    if described.get("outcome") != "would_apply":
        return view
    changes: dict[str, Any] = {k: described[k]["new"] for k in _SIMULATED if k in described}
    if "tags" in described:
        changes["tags"] = frozenset(described["tags"]["new"])
    return dataclasses.replace(view, **changes) if changes else view


# -- webhooks -----------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    lowered = url.strip()
    if not lowered.lower().startswith(("http://", "https://")):
        raise InvalidInput("A webhook URL starts with http:// or https://.", field="url")
    return lowered


def webhook_out(webhook: Webhook, runtime: Runtime, *, with_secret: bool = False) -> WebhookOut:
    secret = runtime.secrets.open(webhook.secret_encrypted)["secret"]
    fields = {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "is_active": webhook.is_active,
        "secret_hint": f"…{secret[-4:]}",
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
    }
    if with_secret:
        return WebhookWithSecret(**fields, secret=secret)
    return WebhookOut(**fields)


async def create_webhook(uow: UnitOfWork, runtime: Runtime, data: WebhookIn) -> Webhook:
    url = _check_url(data.url)
    if await repository.webhook_by_name(uow.session, data.name):
        raise Conflict(f"A webhook named {data.name!r} exists.", field="name")
    now = utcnow()
    webhook = Webhook(
        name=data.name,
        url=url,
        secret_encrypted=runtime.secrets.seal({"secret": data.secret or secrets.token_urlsafe(32)}),
        is_active=data.is_active,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(webhook)
    await uow.session.flush()
    return webhook


async def get_webhook(uow: UnitOfWork, webhook_id: int) -> Webhook:
    webhook = await repository.get_webhook(uow.session, webhook_id)
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} does not exist.", field="webhook_id")
    return webhook


async def update_webhook(uow: UnitOfWork, runtime: Runtime, webhook_id: int, data: WebhookUpdate) -> Webhook:
    webhook = await get_webhook(uow, webhook_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "url", "is_active"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "name" in changes and changes["name"] != webhook.name:
        if await repository.webhook_by_name(uow.session, changes["name"]):
            raise Conflict(f"A webhook named {changes['name']!r} exists.", field="name")
        webhook.name = changes["name"]
    if "url" in changes:
        webhook.url = _check_url(changes["url"])
    if "is_active" in changes:
        webhook.is_active = changes["is_active"]
    if data.rotate_secret:
        webhook.secret_encrypted = runtime.secrets.seal({"secret": secrets.token_urlsafe(32)})
    webhook.updated_at = utcnow()
    await uow.session.flush()
    return webhook


async def delete_webhook(uow: UnitOfWork, webhook_id: int) -> None:
    webhook = await get_webhook(uow, webhook_id)
    for rule in await repository.list_rules(uow.session):
        if any(a.get("type") == "call_webhook" and a.get("webhook_id") == webhook_id for a in rule.actions):
            raise Conflict(
                f"Rule {rule.id} ({rule.name}) calls this webhook; change it first.", field="webhook_id"
            )
    await uow.session.delete(webhook)
    await uow.session.flush()


async def list_deliveries(
    uow: UnitOfWork, webhook_id: int, *, limit: int, cursor: str | None
) -> tuple[list[DeliveryOut], str | None]:
    await get_webhook(uow, webhook_id)
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_deliveries(
        uow.session, webhook_id=webhook_id, limit=limit + 1, before_id=before
    )
    rows, next_cursor = split_page(found, limit, lambda d: (d.id,))
    return [_delivery_out(d, log) for d, log in zip(rows, await _logs(uow, rows), strict=True)], next_cursor


async def _logs(uow: UnitOfWork, rows: Sequence[WebhookDelivery]) -> list[list[AttemptOut]]:
    attempts = await repository.attempts_of(uow.session, [d.id for d in rows])
    return [[AttemptOut.model_validate(a) for a in attempts[d.id]] for d in rows]


def _delivery_out(delivery: WebhookDelivery, log: list[AttemptOut]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        rule_id=delivery.rule_id,
        ticket_id=delivery.ticket_id,
        event_kind=delivery.event_kind,
        state=delivery.state,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        log=log,
    )


async def send_test(uow: UnitOfWork, webhook_id: int) -> DeliveryOut:
    """Queue a ``ping`` delivery so admins can check the receiver and its signature check."""
    webhook = await get_webhook(uow, webhook_id)
    delivery = await _webhooks.queue_delivery(
        uow,
        webhook_id=webhook.id,
        rule_id=None,
        ticket_id=None,
        event_kind="ping",
        payload={"event": {"kind": "ping"}, "webhook": {"id": webhook.id, "name": webhook.name}},
    )
    return _delivery_out(delivery, [])


# -- the allow-list -----------------------------------------------------------------------------


async def add_allowed(uow: UnitOfWork, data: AllowIn) -> OutboundAllow:
    try:
        network = str(safe_http.parse_allow_list([data.network])[0])
    except ValueError as exc:
        raise InvalidInput(str(exc), field="network") from exc
    if await repository.allowed_by_network(uow.session, network):
        raise Conflict(f"{network} is already allowed.", field="network")
    row = OutboundAllow(network=network, note=data.note, created_at=utcnow())
    uow.session.add(row)
    await uow.session.flush()
    return row


async def delete_allowed(uow: UnitOfWork, allow_id: int) -> None:
    row = await uow.session.get(OutboundAllow, allow_id)
    if row is None:
        raise NotFound(f"Allow-list entry {allow_id} does not exist.", field="allow_id")
    await uow.session.delete(row)
    await uow.session.flush()
