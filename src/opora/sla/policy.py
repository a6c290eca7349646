"""Which SLA policy applies to a ticket: pure matching over plain data.

Policies are tried in ``position`` order (then id); the first whose conditions all hold wins. A
condition is a set of allowed values; an empty set allows anything, so a policy with no
conditions at all is the catch-all at the end of the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from opora.sla.models import Metric

METRICS = tuple(Metric)


@dataclass(frozen=True, slots=True)
class Target:
    minutes: int
    business: bool = True
    calendar_id: int | None = None  # None: the ticket team's calendar (or the desk default)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.minutes)


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    position: int
    targets: Mapping[str, Target]
    warning_percent: int = 80
    channel_types: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    team_ids: frozenset[int] = frozenset()
    name: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class TicketFacts:
    channel_type: str
    priority: str
    segment: str | None
    team_id: int | None


def _allows(allowed: frozenset[Any], value: Any) -> bool:
    return not allowed or value in allowed


def matches(policy: Policy, ticket: TicketFacts) -> bool:
    return (
        _allows(policy.channel_types, ticket.channel_type)
        and _allows(policy.priorities, ticket.priority)
        and _allows(policy.segments, ticket.segment)
        and _allows(policy.team_ids, ticket.team_id)
    )


def match(policies: Iterable[Policy], ticket: TicketFacts) -> Policy | None:
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        if matches(policy, ticket):
            return policy
    return None


def from_row(
    *,
    id: int,
    position: int,
    conditions: Mapping[str, Any],
    targets: Mapping[str, Any],
    warning_percent: int,
    name: str = "",
) -> Policy:
    """Build a policy from its stored JSON (already validated when it was written)."""
    parsed = {
        metric: Target(
            minutes=int(spec["minutes"]),
            business=bool(spec.get("business", True)),
            calendar_id=spec.get("calendar_id"),
        )
        for metric, spec in targets.items()
        if metric in METRICS and spec
    }
    return Policy(
        id=id,
        position=position,
        targets=parsed,
        warning_percent=warning_percent,
        channel_types=frozenset(conditions.get("channel_types") or ()),
        priorities=frozenset(conditions.get("priorities") or ()),
        segments=frozenset(conditions.get("segments") or ()),
        team_ids=frozenset(conditions.get("team_ids") or ()),
        name=name,
    )


def calendar_id_for(
    target: Target, *, team_calendar_id: int | None, default_calendar_id: int | None
) -> int | None:
    """The calendar a business-time target counts in; None means calendar (24/7) time."""
    if not target.business:
        return None
    if target.calendar_id is not None:
        return target.calendar_id
    return team_calendar_id if team_calendar_id is not None else default_calendar_id
