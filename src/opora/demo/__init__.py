"""`opora demo`: a demo shop to try the desk with, and the login to try it as."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from opora.agents import service as agents_service
from opora.agents.models import Agent, Calendar, Role, Team
from opora.agents.schemas import AgentCreate, TeamCreate
from opora.auth import service as auth_service
from opora.auth.permissions import Principal
from opora.canned import service as canned_service
from opora.canned.schemas import CannedCreate
from opora.customers import service as customers_service
from opora.db import UnitOfWork
from opora.demo.content import AGENTS, CANNED, SLA_POLICIES, TEAMS, TICKETS, DemoTicket
from opora.events.models import TicketEvent
from opora.events.service import Actor
from opora.routing import service as routing_service
from opora.routing.decide import Policy
from opora.routing.schemas import TeamRoutingUpdate
from opora.runtime import Runtime
from opora.sla import service as sla_service
from opora.sla.schemas import Conditions, PolicyCreate, TargetIn, Targets
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import Message, Ticket
from opora.tickets.schemas import MessageIn, TicketUpdate

CREDENTIALS_FILE = "demo-login.txt"
WEEKDAY_HOURS = [["09:00", "21:00"]]


async def load_demo(runtime: Runtime, *, if_empty: bool = False) -> str:
    """Create the demo shop in one transaction and return what to print."""
    path = runtime.settings.data_dir / CREDENTIALS_FILE
    try:
        async with runtime.db.uow() as uow:
            agents = await uow.session.scalar(select(func.count()).select_from(Agent))
        if agents:
            if if_empty or path.exists():
                return _existing(path, runtime)
            raise SystemExit("The desk already has agents; `opora demo` loads only into an empty desk.")
        async with runtime.db.uow() as uow:
            password = secrets.token_urlsafe(9)
            calendar = Calendar(
                name="Москва, 9–21",
                timezone="Europe/Moscow",
                weekly_hours={d: WEEKDAY_HOURS for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
                | {"sun": []},
                holiday_country="RU",
            )
            uow.session.add(calendar)
            await uow.session.flush()
            teams = [
                await agents_service.create_team(
                    uow, TeamCreate(name=name, description=desc, calendar_id=calendar.id)
                )
                for name, desc in TEAMS
            ]
            by_email: dict[str, Agent] = {}
            for email, name, role, language, team in AGENTS:
                by_email[email] = await agents_service.create_agent(
                    uow,
                    AgentCreate(
                        email=email,
                        name=name,
                        role=Role(role),
                        language=language,
                        password=password,
                        team_ids=[] if team is None else [teams[team].id],
                    ),
                )
            admin = by_email[AGENTS[0][0]]
            await _desk_settings(uow, admin, teams, calendar.id)
            for item in TICKETS:
                await _ticket(uow, item, teams=[t.id for t in teams], agents=by_email, admin=admin)
            admin_token = await auth_service.issue_token(uow, agent_id=admin.id, name="demo admin")
            agent_token = await auth_service.issue_token(
                uow, agent_id=by_email[AGENTS[2][0]].id, name="demo agent"
            )
        text = _login_text(runtime, password, admin_token.secret, agent_token.secret)
        path.write_text(text)
        path.chmod(0o600)
        return text
    finally:
        await runtime.close()


async def _desk_settings(uow: UnitOfWork, admin: Agent, teams: list[Team], calendar_id: int) -> None:
    """SLA targets, auto-assignment for the first line, and shared templates, as a shop would set them."""
    for position, (name, priorities, first, following, resolution) in enumerate(SLA_POLICIES):
        await sla_service.create_policy(
            uow,
            PolicyCreate(
                name=name,
                position=position,
                conditions=Conditions(priorities=priorities),
                targets=Targets(
                    first_response=TargetIn(minutes=first, calendar_id=calendar_id),
                    next_response=TargetIn(minutes=following, calendar_id=calendar_id),
                    resolution=TargetIn(minutes=resolution, calendar_id=calendar_id),
                ),
            ),
        )
    await routing_service.update_team_settings(
        uow, teams[0].id, TeamRoutingUpdate(policy=Policy.LEAST_LOADED, escalation_team_id=teams[1].id)
    )
    principal = Principal(agent_id=admin.id, role=Role.ADMIN, team_ids=frozenset(), via="session")
    for title, body, shortcut, language in CANNED:
        await canned_service.create(
            uow,
            principal,
            CannedCreate(title=title, body=body, shortcut=shortcut, language=language, shared=True),
        )


def _login_text(runtime: Runtime, password: str, admin_token: str, agent_token: str) -> str:
    base = runtime.settings.public_url
    return (
        f"Demo shop «Ромашка» is loaded: {len(TICKETS)} tickets, {len(AGENTS)} agents in {len(TEAMS)} teams.\n"
        f"  Log in as {AGENTS[0][0]} (admin) or {AGENTS[2][0]} (agent, first line),\n"
        f"  password for every demo agent: {password}  (POST {base}/api/v1/auth/login)\n"
        f"  admin API token: {admin_token}\n"
        f"  agent API token: {agent_token}\n"
        f"  try: curl -H 'Authorization: Bearer {admin_token}' {base}/api/v1/tickets\n"
    )


def _existing(path: Path, runtime: Runtime) -> str:
    if path.exists():
        return "The demo shop is already loaded.\n" + path.read_text()
    return (
        "The desk already has agents, so no demo was loaded.\n"
        f"Create a login with `opora user create EMAIL --name NAME --role admin` (data dir "
        f"{runtime.settings.data_dir})."
    )


async def _ticket(
    uow: UnitOfWork, item: DemoTicket, *, teams: list[int], agents: dict[str, Agent], admin: Agent
) -> None:
    kind, value, name, language = item.customer
    customer = await customers_service.find_or_create_by_identity(
        uow, _identity_kind(kind), value, name=name, language=language
    )
    assignee = agents[item.assignee] if item.assignee else None
    ticket = await tickets_service.open_ticket(
        uow,
        actor=Actor("customer", customer.id),
        customer=customer,
        subject=item.subject,
        channel_type=item.channel,
        channel_id=None,
        priority=item.priority,
        team_id=teams[item.team],
        assignee_id=assignee.id if assignee else None,
        topic=item.topic,
        language=language,
        tags=item.tags,
    )
    writer = assignee or admin
    principal = Principal(agent_id=writer.id, role=Role(writer.role), team_ids=frozenset(teams), via="token")
    for author, text in item.messages:
        await tickets_service.add_message(
            uow,
            principal,
            ticket.id,
            MessageIn(
                text=text, author="customer" if author == "customer" else "agent", internal=author == "note"
            ),
            ticket=ticket,
        )
    target = Status(item.status)
    if target == Status.CLOSED:
        await tickets_service.update_ticket(uow, principal, ticket.id, TicketUpdate(status=Status.SOLVED))
    if Status(ticket.status) != target:
        await tickets_service.update_ticket(uow, principal, ticket.id, TicketUpdate(status=target))
    await _backdate(uow, ticket, item)


def _identity_kind(kind: str) -> str:
    return {"api": "shop", "web_form": "email"}.get(kind, kind)


async def _backdate(uow: UnitOfWork, ticket: Ticket, item: DemoTicket) -> None:
    """Spread the conversation over the hours since it began, as if it happened then."""
    shift = timedelta(hours=item.hours_ago)
    messages = (await uow.session.scalars(select(Message).where(Message.ticket_id == ticket.id))).all()
    events = (await uow.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).all()
    step = shift / (len(messages) + 1)
    for index, message in enumerate(messages):
        message.created_at = message.created_at - shift + step * index
    for event in events:
        event.created_at = event.created_at - shift
    for column in (
        "created_at",
        "updated_at",
        "status_changed_at",
        "first_response_at",
        "last_customer_message_at",
        "solved_at",
        "closed_at",
    ):
        value = getattr(ticket, column)
        if value is not None:
            setattr(
                ticket,
                column,
                value - shift + (step * len(messages) if column != "created_at" else timedelta()),
            )
    await uow.session.flush()
