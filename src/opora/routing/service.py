"""Routing use cases: serve team queues, react to ticket changes, presence, escalation, settings.

Each pass locks the candidate agents' rows in id order before it counts their load, so two
transactions never both see the last free slot of an agent (see repository.lock_agents).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from opora.agents import repository as agents_repo
from opora.agents.models import Agent, Presence
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.reactions import Fact
from opora.events.service import SYSTEM, Actor, change
from opora.jobs.service import enqueue
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.time import utcnow
from opora.routing import decide
from opora.routing import repository as repo
from opora.routing.decide import AgentState, Policy, Skills, TeamPolicy, TicketState
from opora.routing.models import AgentRouting, TeamRouting
from opora.routing.schemas import (
    AgentRoutingOut,
    AgentRoutingUpdate,
    Line,
    QueueItem,
    SkillsOut,
    TeamRoutingOut,
    TeamRoutingUpdate,
)
from opora.tickets.lifecycle import Status
from opora.tickets.models import Ticket

SERVE_TASK = "routing.serve_team"
VIA = "routing"
# Tickets looked at per pass; assignments per pass are bounded by free capacity anyway.
QUEUE_LIMIT = 500
DEFAULT_FALLBACK_SECONDS = 120


# --- serving queues -------------------------------------------------------------------------


def team_policy(settings: TeamRouting | None) -> TeamPolicy:
    if settings is None:
        return TeamPolicy(Policy.MANUAL, timedelta(seconds=DEFAULT_FALLBACK_SECONDS))
    return TeamPolicy(
        Policy(settings.policy),
        timedelta(seconds=settings.skill_fallback_seconds),
        {str(k): float(v) for k, v in (settings.channel_weights or {}).items()},
        settings.last_assigned_id,
    )


def skills_of(settings: AgentRouting | None) -> Skills:
    raw: dict[str, Any] = settings.skills if settings is not None else {}
    return Skills(
        topics=frozenset(raw.get("topics", [])),
        languages=frozenset(raw.get("languages", [])),
        channels=frozenset(raw.get("channels", [])),
        vip=bool(raw.get("vip", False)),
    )


def agent_state(
    agent_id: int, presence: str, settings: AgentRouting | None, load: dict[str, int]
) -> AgentState:
    return AgentState(
        id=agent_id,
        presence=presence,
        capacity={str(k): int(v) for k, v in (settings.capacity if settings else {}).items()},
        default_capacity=settings.default_capacity if settings else decide.DEFAULT_CAPACITY,
        load=load,
        skills=skills_of(settings),
    )


def ticket_state(ticket: Ticket, *, vip: bool, since: datetime | None) -> TicketState:
    return TicketState(
        id=ticket.id,
        channel=ticket.channel_type,
        priority=ticket.priority,
        topic=ticket.topic,
        language=ticket.language,
        vip=vip,
        created_at=ticket.created_at,
        waiting_since=since or ticket.created_at,
    )


async def route_teams(
    uow: UnitOfWork, team_ids: Collection[int], *, now: datetime | None = None
) -> list[tuple[int, int]]:
    """Assign the waiting tickets of these teams to their free agents; returns (ticket, agent)."""
    session = uow.session
    now = now or utcnow()
    settings = {
        team_id: row
        for team_id, row in (await repo.team_settings_for(session, team_ids)).items()
        if row.policy != Policy.MANUAL
    }
    if not settings:
        return []
    members = await repo.members_by_team(session, settings)
    candidates = {agent_id for ids in members.values() for agent_id in ids}
    presence = await repo.lock_agents(session, candidates)
    if Presence.ONLINE not in presence.values():
        return []
    tickets = await repo.queued_tickets(session, settings, limit=QUEUE_LIMIT, lock=True)
    if not tickets:
        return []
    agent_settings = await repo.agent_settings_for(session, candidates)
    load = await repo.open_load(session, candidates)
    states = {
        agent_id: agent_state(agent_id, presence[agent_id], agent_settings.get(agent_id), load[agent_id])
        for agent_id in presence
    }
    vip = await repo.vip_ticket_ids(session, tickets)
    since = await repo.waiting_since(session, [t.id for t in tickets])
    by_id = {t.id: t for t in tickets}
    done: list[tuple[int, int]] = []
    # Teams share agents: each team's plan starts from the loads the previous plans left.
    for team_id in sorted(settings):
        team_tickets = [
            ticket_state(t, vip=t.id in vip, since=since.get(t.id)) for t in tickets if t.team_id == team_id
        ]
        team_agents = [states[a] for a in members[team_id] if a in states]
        if not team_tickets or not team_agents:
            continue
        row = settings[team_id]
        plan = decide.plan(team_tickets, team_agents, team_policy(row), now)
        states.update({a.id: a for a in plan.agents})
        for ticket_id, agent_id in plan.assignments:
            await _assign(uow, by_id[ticket_id], agent_id, now)
        done += plan.assignments
        if plan.last_assigned_id != row.last_assigned_id:
            row.last_assigned_id = plan.last_assigned_id
        for ticket_id, retry_at in plan.retries:
            await enqueue(
                uow,
                SERVE_TASK,
                {"team_id": team_id},
                unique_key=f"{SERVE_TASK}:{team_id}:{ticket_id}",
                run_at=retry_at,
            )
    await session.flush()
    return done


async def lock_candidates(uow: UnitOfWork, team_ids: Collection[int], *, also: Collection[int] = ()) -> None:
    """Take the locks a routing pass over ``team_ids`` takes, before writing anything else.

    Routing locks agents first, then writes tickets and team settings; a use case that writes
    presence or settings and then routes must lock in the same order, or two transactions could
    each hold what the other waits for.
    """
    members = await repo.members_by_team(uow.session, team_ids)
    await repo.lock_agents(uow.session, set(also).union(*members.values()))


async def _assign(uow: UnitOfWork, ticket: Ticket, agent_id: int, now: datetime) -> None:
    old = ticket.assignee_id
    ticket.assignee_id = agent_id
    ticket.updated_at = now
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind="assigned",
        actor=SYSTEM,
        data={"assignee_id": change(old, agent_id), "via": VIA},
        team_id=ticket.team_id,
        assignee_id=agent_id,
    )


async def react(uow: UnitOfWork, facts: Sequence[Fact]) -> list[tuple[int, int]]:
    """Which team queues a transaction's ticket events may have made servable; serve them."""
    rows = await repo.ticket_rows(uow.session, {f.ticket_id for f in facts})
    teams: set[int] = set()
    freed: set[int] = set()
    for fact in facts:
        row = rows.get(fact.ticket_id)
        if row is None:
            continue
        if fact.kind == "status_changed":
            status = fact.data.get("status") or {}
            if (
                row.assignee_id is not None
                and status.get("old") in repo.LOAD_STATUSES
                and status.get("new") not in repo.LOAD_STATUSES
            ):
                freed.add(row.assignee_id)
        elif fact.kind == "assigned":
            old = (fact.data.get("assignee_id") or {}).get("old")
            if isinstance(old, int) and old != row.assignee_id:
                freed.add(old)
        if row.team_id is not None and row.assignee_id is None and row.status in repo.QUEUE_STATUSES:
            teams.add(row.team_id)
    teams |= await repo.team_ids_of_agents(uow.session, freed)
    return await route_teams(uow, teams) if teams else []


# --- presence ---------------------------------------------------------------------------------


async def set_presence(
    uow: UnitOfWork, agent_id: int, presence: Presence, *, actor_id: int | None
) -> tuple[Agent, bool, list[tuple[int, int]]]:
    """Change an agent's presence; coming online serves the queues of the agent's teams."""
    session = uow.session
    team_ids = await agents_repo.team_ids_of(session, agent_id)
    await lock_candidates(uow, team_ids, also=[agent_id])
    agent = await session.get(Agent, agent_id, populate_existing=True)
    if agent is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    old = agent.presence
    if old == presence:
        return agent, False, []
    now = utcnow()
    agent.presence = presence
    repo.add_presence_change(session, agent_id=agent_id, old=old, new=presence, actor_id=actor_id, at=now)
    await session.flush()
    assigned = await route_teams(uow, team_ids, now=now) if presence == Presence.ONLINE else []
    return agent, True, assigned


# --- escalation -------------------------------------------------------------------------------


async def _event(uow: UnitOfWork, ticket: Ticket, kind: str, actor: Actor, data: dict[str, Any]) -> None:
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=kind,
        actor=actor,
        data=data,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


async def escalate(
    uow: UnitOfWork, ticket: Ticket, *, reason: str, actor: Actor, to_team_id: int | None = None
) -> Ticket:
    """Move ``ticket`` to the second line (its team's escalation team unless ``to_team_id``).

    The assignee is cleared so that the new team's routing picks the agent; the events
    ``team_changed``, ``assigned`` (when there was an assignee) and ``escalated`` (with the
    reason) keep the history. Callers check that ``actor`` may change the ticket.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give the reason for the escalation.", field="reason")
    if ticket.merged_into_id is not None:
        raise InvalidInput(f"Ticket {ticket.id} was merged into #{ticket.merged_into_id}.", field="ticket_id")
    if ticket.status == Status.CLOSED:
        raise InvalidInput("A closed ticket cannot be escalated.", field="status")
    target = to_team_id
    if target is None:
        settings = await repo.get_team_settings(uow.session, ticket.team_id) if ticket.team_id else None
        target = settings.escalation_team_id if settings else None
        if target is None:
            raise InvalidInput(
                "The ticket's team names no team to escalate to; choose one with team_id.", field="team_id"
            )
    elif await agents_repo.get_team(uow.session, target) is None:
        raise InvalidInput(f"Team {target} does not exist.", field="team_id")
    if target == ticket.team_id:
        raise InvalidInput(f"The ticket is already in team {target}.", field="team_id")
    now = utcnow()
    old_team, old_assignee = ticket.team_id, ticket.assignee_id
    ticket.team_id = target
    ticket.assignee_id = None
    ticket.updated_at = now
    await _event(
        uow, ticket, "team_changed", actor, {"team_id": change(old_team, target), "via": "escalation"}
    )
    if old_assignee is not None:
        await _event(
            uow, ticket, "assigned", actor, {"assignee_id": change(old_assignee, None), "via": "escalation"}
        )
    await _event(
        uow,
        ticket,
        "escalated",
        actor,
        {"reason": reason, "team_id": change(old_team, target), "assignee_id": change(old_assignee, None)},
    )
    await uow.session.flush()
    return ticket


# --- queue view -------------------------------------------------------------------------------


async def queue(uow: UnitOfWork, team_id: int | None, *, now: datetime | None = None) -> list[QueueItem]:
    """Waiting tickets in the order routing serves them (per team: most urgent, VIP, oldest)."""
    now = now or utcnow()
    if team_id is not None and await agents_repo.get_team(uow.session, team_id) is None:
        raise NotFound(f"Team {team_id} does not exist.")
    teams = [team_id] if team_id is not None else [t.id for t in await agents_repo.list_teams(uow.session)]
    tickets = await repo.queued_tickets(uow.session, teams, limit=QUEUE_LIMIT, lock=False)
    vip = await repo.vip_ticket_ids(uow.session, tickets)
    since = await repo.waiting_since(uow.session, [t.id for t in tickets])
    states = {t.id: ticket_state(t, vip=t.id in vip, since=since.get(t.id)) for t in tickets}
    by_id = {t.id: t for t in tickets}
    ordered = sorted(states.values(), key=lambda s: (by_id[s.id].team_id or 0, *decide.serve_key(s)))
    items = []
    for position, state in enumerate(ordered, start=1):
        ticket = by_id[state.id]
        waiting = state.waiting_since or ticket.created_at
        items.append(
            QueueItem(
                position=position,
                ticket_id=ticket.id,
                team_id=ticket.team_id or 0,
                subject=ticket.subject,
                status=ticket.status,
                channel_type=ticket.channel_type,
                priority=ticket.priority,
                topic=ticket.topic,
                language=ticket.language,
                vip=state.vip,
                created_at=ticket.created_at,
                waiting_since=waiting,
                waiting_seconds=max(0, int((now - waiting).total_seconds())),
            )
        )
    return items


# --- settings ---------------------------------------------------------------------------------


async def _team(uow: UnitOfWork, team_id: int) -> None:
    if await agents_repo.get_team(uow.session, team_id) is None:
        raise NotFound(f"Team {team_id} does not exist.")


def team_settings_out(team_id: int, row: TeamRouting | None) -> TeamRoutingOut:
    return TeamRoutingOut(
        team_id=team_id,
        policy=Policy(row.policy) if row else Policy.MANUAL,
        line=Line(row.line) if row else Line.FIRST,
        escalation_team_id=row.escalation_team_id if row else None,
        skill_fallback_seconds=row.skill_fallback_seconds if row else DEFAULT_FALLBACK_SECONDS,
        channel_weights=dict(row.channel_weights) if row else {},
        last_assigned_id=row.last_assigned_id if row else None,
    )


async def get_team_settings(uow: UnitOfWork, team_id: int) -> TeamRoutingOut:
    await _team(uow, team_id)
    return team_settings_out(team_id, await repo.get_team_settings(uow.session, team_id))


async def list_team_settings(uow: UnitOfWork) -> list[TeamRoutingOut]:
    rows = {r.team_id: r for r in await repo.list_team_settings(uow.session)}
    return [team_settings_out(t.id, rows.get(t.id)) for t in await agents_repo.list_teams(uow.session)]


async def update_team_settings(uow: UnitOfWork, team_id: int, data: TeamRoutingUpdate) -> TeamRoutingOut:
    await _team(uow, team_id)
    await lock_candidates(uow, [team_id])
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key != "escalation_team_id":
            raise InvalidInput(f"{key} cannot be null.", field=key)
    target = changes.get("escalation_team_id")
    if target is not None:
        if target == team_id:
            raise InvalidInput("A team cannot escalate to itself.", field="escalation_team_id")
        if await agents_repo.get_team(uow.session, target) is None:
            raise InvalidInput(f"Team {target} does not exist.", field="escalation_team_id")
    row = await repo.get_team_settings(uow.session, team_id)
    if row is None:
        row = TeamRouting(
            team_id=team_id,
            policy=Policy.MANUAL,
            line=Line.FIRST,
            skill_fallback_seconds=DEFAULT_FALLBACK_SECONDS,
            channel_weights={},
        )
        uow.session.add(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await uow.session.flush()
    # Switching auto-assignment on (or widening the fallback) may make waiting tickets servable.
    await route_teams(uow, [team_id])
    return team_settings_out(team_id, row)


async def _agent(uow: UnitOfWork, agent_id: int) -> Agent:
    agent = await agents_repo.get_agent(uow.session, agent_id)
    if agent is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    return agent


async def get_agent_settings(uow: UnitOfWork, agent_id: int) -> AgentRoutingOut:
    agent = await _agent(uow, agent_id)
    row = await repo.get_agent_settings(uow.session, agent_id)
    load = (await repo.open_load(uow.session, [agent_id]))[agent_id]
    skills = skills_of(row)
    return AgentRoutingOut(
        agent_id=agent_id,
        presence=Presence(agent.presence),
        capacity=dict(row.capacity) if row else {},
        default_capacity=row.default_capacity if row else decide.DEFAULT_CAPACITY,
        skills=SkillsOut(
            topics=sorted(skills.topics),
            languages=sorted(skills.languages),
            channels=sorted(skills.channels),
            vip=skills.vip,
        ),
        load=load,
    )


async def update_agent_settings(uow: UnitOfWork, agent_id: int, data: AgentRoutingUpdate) -> AgentRoutingOut:
    await _agent(uow, agent_id)
    team_ids = await agents_repo.team_ids_of(uow.session, agent_id)
    await lock_candidates(uow, team_ids, also=[agent_id])
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    row = await repo.get_agent_settings(uow.session, agent_id)
    if row is None:
        row = AgentRouting(
            agent_id=agent_id, capacity={}, default_capacity=decide.DEFAULT_CAPACITY, skills={}
        )
        uow.session.add(row)
    if "capacity" in changes:
        row.capacity = dict(changes["capacity"])
    if "default_capacity" in changes:
        row.default_capacity = changes["default_capacity"]
    if data.skills is not None:
        # The skills object replaces the agent's skills as a whole.
        skills = data.skills.model_dump()
        row.skills = {
            "topics": sorted(set(skills["topics"])),
            "languages": sorted(set(skills["languages"])),
            "channels": sorted(set(skills["channels"])),
            "vip": skills["vip"],
        }
    row.updated_at = utcnow()
    await uow.session.flush()
    # More room or new skills may let this agent take waiting tickets now.
    await route_teams(uow, team_ids)
    return await get_agent_settings(uow, agent_id)
