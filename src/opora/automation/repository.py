"""All SQL of automation: rules, rule runs, webhooks, deliveries, the allow-list, ticket snapshots."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Calendar, Team
from opora.automation.models import (
    OutboundAllow,
    Rule,
    RuleRun,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from opora.customers.models import Customer, CustomerIdentity, IdentityKind
from opora.kit.readcache import watch
from opora.tickets.models import Message, Ticket

# -- rules --------------------------------------------------------------------------------------


# Every ticket event's rules reaction reads the active rules (through kit.readcache).
watch(Rule.__tablename__)


async def list_rules(session: AsyncSession, *, active_only: bool = False) -> Sequence[Rule]:
    query = select(Rule).order_by(Rule.position, Rule.id)
    if active_only:
        query = query.where(Rule.is_active.is_(True))
    return (await session.scalars(query)).all()


async def get_rule(session: AsyncSession, rule_id: int) -> Rule | None:
    return await session.get(Rule, rule_id)


async def next_position(session: AsyncSession) -> int:
    highest = await session.scalar(select(func.max(Rule.position)))
    return 0 if highest is None else int(highest) + 1


async def add_runs(session: AsyncSession, runs: Sequence[RuleRun]) -> None:
    session.add_all(runs)
    await session.flush()


async def list_runs(
    session: AsyncSession,
    *,
    rule_id: int | None,
    ticket_id: int | None,
    limit: int,
    before_id: int | None,
) -> Sequence[RuleRun]:
    query = select(RuleRun).order_by(RuleRun.id.desc()).limit(limit)
    if rule_id is not None:
        query = query.where(RuleRun.rule_id == rule_id)
    if ticket_id is not None:
        query = query.where(RuleRun.ticket_id == ticket_id)
    if before_id is not None:
        query = query.where(RuleRun.id < before_id)
    return (await session.scalars(query)).all()


# -- what rules read about tickets --------------------------------------------------------------


async def tickets_by_id(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(sorted(set(ticket_ids)))))
    return {t.id: t for t in rows}


async def customers_by_id(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Customer]:
    if not customer_ids:
        return {}
    rows = await session.scalars(select(Customer).where(Customer.id.in_(sorted(set(customer_ids)))))
    return {c.id: c for c in rows}


async def emails_of(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, str]:
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.value)
        .where(
            CustomerIdentity.customer_id.in_(sorted(set(customer_ids))),
            CustomerIdentity.kind == IdentityKind.EMAIL,
        )
        .order_by(CustomerIdentity.id.desc())
    )
    # Ordered newest first, so the oldest address wins: the one the customer started with.
    return {customer_id: value for customer_id, value in rows}


async def messages_by_id(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, Message]:
    if not message_ids:
        return {}
    rows = await session.scalars(select(Message).where(Message.id.in_(sorted(set(message_ids)))))
    return {m.id: m for m in rows}


async def last_message(session: AsyncSession, ticket_id: int) -> Message | None:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id.desc()).limit(1)
    return (await session.scalars(query)).first()


async def calendars_of_teams(session: AsyncSession, team_ids: Sequence[int]) -> dict[int, Calendar]:
    if not team_ids:
        return {}
    rows = await session.execute(
        select(Team.id, Calendar)
        .join(Calendar, Calendar.id == Team.calendar_id)
        .where(Team.id.in_(sorted(set(team_ids))))
    )
    return {team_id: calendar for team_id, calendar in rows}


async def existing_team_ids(session: AsyncSession, team_ids: Sequence[int]) -> set[int]:
    if not team_ids:
        return set()
    return set((await session.scalars(select(Team.id).where(Team.id.in_(sorted(set(team_ids)))))).all())


async def active_agent_ids(session: AsyncSession, agent_ids: Sequence[int]) -> set[int]:
    if not agent_ids:
        return set()
    query = select(Agent.id).where(Agent.id.in_(sorted(set(agent_ids))), Agent.is_active.is_(True))
    return set((await session.scalars(query)).all())


# -- webhooks -----------------------------------------------------------------------------------


async def list_webhooks(session: AsyncSession) -> Sequence[Webhook]:
    return (await session.scalars(select(Webhook).order_by(Webhook.id))).all()


async def get_webhook(session: AsyncSession, webhook_id: int) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def webhook_by_name(session: AsyncSession, name: str) -> Webhook | None:
    return (await session.scalars(select(Webhook).where(Webhook.name == name))).first()


async def existing_webhook_ids(session: AsyncSession, webhook_ids: Sequence[int]) -> set[int]:
    if not webhook_ids:
        return set()
    query = select(Webhook.id).where(Webhook.id.in_(sorted(set(webhook_ids))))
    return set((await session.scalars(query)).all())


async def list_deliveries(
    session: AsyncSession, *, webhook_id: int, limit: int, before_id: int | None
) -> Sequence[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return (await session.scalars(query)).all()


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    result: dict[int, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return result
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(sorted(set(delivery_ids))))
        .order_by(WebhookAttempt.id)
    )
    for row in rows:
        result[row.delivery_id].append(row)
    return result


# -- the allow-list -----------------------------------------------------------------------------


async def list_allowed(session: AsyncSession) -> Sequence[OutboundAllow]:
    return (await session.scalars(select(OutboundAllow).order_by(OutboundAllow.id))).all()


async def allowed_networks(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(OutboundAllow.network).order_by(OutboundAllow.id))).all())


async def allowed_by_network(session: AsyncSession, network: str) -> OutboundAllow | None:
    return (await session.scalars(select(OutboundAllow).where(OutboundAllow.network == network))).first()
