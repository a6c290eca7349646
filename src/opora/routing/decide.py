"""Who gets a ticket, and in what order a team's queue is served: pure functions over a snapshot.

The service builds the snapshot (agents with presence, capacity and open load, the team's policy,
the waiting tickets) from the database under locks and applies the plan; everything that decides
lives here and is tested without a database.

Rules:
- Only agents who are online and under their capacity for the ticket's channel get a ticket.
- Skills first: a ticket's needs are its topic, language, channel and VIP flag, but a need counts
  only when some member of the team declares that skill (a Russian ticket does not wait because
  one agent lists English). Until the team's fallback wait has passed since the ticket entered the
  queue, only agents with every counted skill qualify; after it, any free agent of the team.
- least_loaded picks the lowest weighted load (open tickets times the team's channel weight);
  round_robin takes the next agent after the last one served; ties go round-robin too.
- Queues are served most urgent first, VIP before others of the same priority, then oldest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Policy(StrEnum):
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"
    MANUAL = "manual"


ONLINE = "online"
PRIORITY_RANK: Mapping[str, int] = {"urgent": 3, "high": 2, "normal": 1, "low": 0}
DEFAULT_CAPACITY = 10
DEFAULT_WEIGHT = 1.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Skills:
    """Skill values are case-folded (the API stores them so); ticket values are folded to match."""

    topics: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    vip: bool = False


@dataclass(frozen=True, slots=True)
class AgentState:
    id: int
    presence: str
    # Open tickets the agent may hold at once, per channel type; ``default_capacity`` for others.
    capacity: Mapping[str, int] = field(default_factory=dict)
    default_capacity: int = DEFAULT_CAPACITY
    load: Mapping[str, int] = field(default_factory=dict)
    skills: Skills = Skills()


@dataclass(frozen=True, slots=True)
class TicketState:
    id: int
    channel: str
    priority: str = "normal"
    topic: str | None = None
    language: str | None = None
    vip: bool = False
    created_at: datetime | None = None
    # When the ticket entered this team's queue: the skill fallback wait counts from here.
    waiting_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class TeamPolicy:
    policy: Policy = Policy.MANUAL
    fallback: timedelta = timedelta(seconds=120)
    weights: Mapping[str, float] = field(default_factory=dict)
    last_assigned_id: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    agent_id: int | None
    # Set when no skilled agent was free and the fallback wait is still running: try again then.
    retry_at: datetime | None = None


@dataclass(slots=True)
class Plan:
    assignments: list[tuple[int, int]]  # (ticket id, agent id) in serve order
    retries: list[tuple[int, datetime]]  # (ticket id, when the skill fallback wait ends)
    last_assigned_id: int | None
    agents: list[AgentState]  # the snapshot with the planned assignments added to the loads


def capacity_for(agent: AgentState, channel: str) -> int:
    return agent.capacity.get(channel, agent.default_capacity)


def has_room(agent: AgentState, channel: str) -> bool:
    return agent.presence == ONLINE and agent.load.get(channel, 0) < capacity_for(agent, channel)


def weighted_load(agent: AgentState, weights: Mapping[str, float]) -> float:
    return sum(count * weights.get(channel, DEFAULT_WEIGHT) for channel, count in agent.load.items())


def _norm(value: str | None) -> str | None:
    return value.strip().casefold() if value else None


Declared = Mapping[str, frozenset[str]]


def declared_skills(team: Sequence[AgentState]) -> Declared:
    """Every skill value some member of the team declares, by kind."""
    found: dict[str, set[str]] = {"topic": set(), "language": set(), "channel": set(), "vip": set()}
    for agent in team:
        found["topic"].update(agent.skills.topics)
        found["language"].update(agent.skills.languages)
        found["channel"].update(agent.skills.channels)
        if agent.skills.vip:
            found["vip"].add("yes")
    return {kind: frozenset(values) for kind, values in found.items()}


def needs(
    ticket: TicketState, team: Sequence[AgentState], declared: Declared | None = None
) -> list[tuple[str, str]]:
    """The ticket's skill needs that at least one member of the team can meet."""
    if declared is None:
        declared = declared_skills(team)
    wanted = [
        ("topic", _norm(ticket.topic)),
        ("language", _norm(ticket.language)),
        ("channel", _norm(ticket.channel)),
        ("vip", "yes" if ticket.vip else None),
    ]
    return [(kind, value) for kind, value in wanted if value is not None and value in declared[kind]]


def has_skills(agent: AgentState, wanted: Iterable[tuple[str, str]]) -> bool:
    skills = agent.skills
    for kind, value in wanted:
        if kind == "topic" and value not in skills.topics:
            return False
        if kind == "language" and value not in skills.languages:
            return False
        if kind == "channel" and value not in skills.channels:
            return False
        if kind == "vip" and not skills.vip:
            return False
    return True


def _after_pointer(agent_id: int, pointer: int | None) -> tuple[int, int]:
    """Round-robin distance: agents after the pointer first, in id order, then wrap around."""
    if pointer is None:
        return (0, agent_id)
    return (0, agent_id) if agent_id > pointer else (1, agent_id)


def pick(free: Sequence[AgentState], team: TeamPolicy) -> AgentState | None:
    if not free:
        return None
    if team.policy == Policy.LEAST_LOADED:
        return min(
            free,
            key=lambda a: (weighted_load(a, team.weights), _after_pointer(a.id, team.last_assigned_id)),
        )
    if team.policy == Policy.ROUND_ROBIN:
        return min(free, key=lambda a: _after_pointer(a.id, team.last_assigned_id))
    return None


def choose(
    ticket: TicketState,
    agents: Sequence[AgentState],
    team: TeamPolicy,
    now: datetime,
    declared: Declared | None = None,
) -> Choice:
    """The agent for ``ticket`` among the team's ``agents``, or None (the ticket waits)."""
    if team.policy == Policy.MANUAL:
        return Choice(None)
    free = [a for a in agents if has_room(a, ticket.channel)]
    wanted = needs(ticket, agents, declared)
    if wanted:
        since = ticket.waiting_since or ticket.created_at or now
        fallback_at = since + team.fallback
        skilled = [a for a in free if has_skills(a, wanted)]
        if skilled or now < fallback_at:
            chosen = pick(skilled, team)
            return Choice(chosen.id if chosen else None, None if chosen else fallback_at)
    chosen = pick(free, team)
    return Choice(chosen.id if chosen else None)


def serve_key(ticket: TicketState) -> tuple[int, int, datetime, int]:
    """Most urgent first, VIP before others of the same priority, then the oldest."""
    return (
        -PRIORITY_RANK.get(ticket.priority, 1),
        0 if ticket.vip else 1,
        ticket.created_at or _EPOCH,
        ticket.id,
    )


def serve_order(tickets: Iterable[TicketState]) -> list[TicketState]:
    return sorted(tickets, key=serve_key)


def with_ticket(agent: AgentState, channel: str) -> AgentState:
    load = dict(agent.load)
    load[channel] = load.get(channel, 0) + 1
    return AgentState(agent.id, agent.presence, agent.capacity, agent.default_capacity, load, agent.skills)


def plan(
    tickets: Iterable[TicketState], agents: Sequence[AgentState], team: TeamPolicy, now: datetime
) -> Plan:
    """Serve a team's queue: assign tickets in serve order while free agents remain."""
    current = list(agents)
    pointer = team.last_assigned_id
    assignments: list[tuple[int, int]] = []
    retries: list[tuple[int, datetime]] = []
    if team.policy == Policy.MANUAL:
        return Plan(assignments, retries, pointer, current)
    declared = declared_skills(current)  # skills do not change while a plan is made
    for ticket in serve_order(tickets):
        if not any(has_room(a, ticket.channel) for a in current):
            # No one has room on this channel; skill retries are pointless until someone frees up.
            continue
        step = TeamPolicy(team.policy, team.fallback, team.weights, pointer)
        choice = choose(ticket, current, step, now, declared)
        if choice.agent_id is None:
            if choice.retry_at is not None:
                retries.append((ticket.id, choice.retry_at))
            continue
        assignments.append((ticket.id, choice.agent_id))
        pointer = choice.agent_id
        current = [with_ticket(a, ticket.channel) if a.id == choice.agent_id else a for a in current]
    return Plan(assignments, retries, pointer, current)
