"""Who may do what: pure functions over a principal, tested without a database."""

from __future__ import annotations

from dataclasses import dataclass

from opora.agents.models import Role
from opora.events.service import Actor

SEES_ALL = frozenset({Role.ADMIN, Role.SUPERVISOR})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an agent, reached by session cookie or API token."""

    agent_id: int
    role: Role
    team_ids: frozenset[int]
    via: str  # "session" or "token"

    @property
    def actor(self) -> Actor:
        return Actor("agent", self.agent_id)

    @property
    def sees_all_tickets(self) -> bool:
        return self.role in SEES_ALL

    @property
    def can_write(self) -> bool:
        return self.role != Role.READONLY

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def can_see_ticket(principal: Principal, *, team_id: int | None, assignee_id: int | None) -> bool:
    """Admins and supervisors see every ticket; others see their teams' tickets and their own."""
    if principal.sees_all_tickets:
        return True
    if assignee_id is not None and assignee_id == principal.agent_id:
        return True
    return team_id is not None and team_id in principal.team_ids


def can_edit_ticket(principal: Principal, *, team_id: int | None, assignee_id: int | None) -> bool:
    return principal.can_write and can_see_ticket(principal, team_id=team_id, assignee_id=assignee_id)


def can_assign_to(principal: Principal, *, assignee_id: int, assignee_team_ids: frozenset[int]) -> bool:
    """Agents may hand a ticket to themselves or to a colleague of one of their teams."""
    if principal.sees_all_tickets or assignee_id == principal.agent_id:
        return True
    return bool(principal.team_ids & assignee_team_ids)
