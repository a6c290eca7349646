from opora.agents.models import Role
from opora.auth.permissions import Principal, can_assign_to, can_edit_ticket, can_see_ticket


def principal(role: Role, teams: set[int] = frozenset(), agent_id: int = 7) -> Principal:  # type: ignore[assignment]
    return Principal(agent_id=agent_id, role=role, team_ids=frozenset(teams), via="token")


def test_admin_and_supervisor_see_everything() -> None:
    for role in (Role.ADMIN, Role.SUPERVISOR):
        assert can_see_ticket(principal(role), team_id=99, assignee_id=None)
        assert can_see_ticket(principal(role), team_id=None, assignee_id=None)


def test_agent_sees_own_teams_and_own_tickets_only() -> None:
    agent = principal(Role.AGENT, {1, 2})
    assert can_see_ticket(agent, team_id=1, assignee_id=None)
    assert can_see_ticket(agent, team_id=3, assignee_id=7)
    assert not can_see_ticket(agent, team_id=3, assignee_id=8)
    assert not can_see_ticket(agent, team_id=None, assignee_id=None)


def test_readonly_sees_but_never_edits() -> None:
    reader = principal(Role.READONLY, {1})
    assert can_see_ticket(reader, team_id=1, assignee_id=None)
    assert not can_edit_ticket(reader, team_id=1, assignee_id=None)
    assert not reader.can_write


def test_assignment_scope() -> None:
    agent = principal(Role.AGENT, {1})
    assert can_assign_to(agent, assignee_id=7, assignee_team_ids=frozenset())
    assert can_assign_to(agent, assignee_id=8, assignee_team_ids=frozenset({1, 5}))
    assert not can_assign_to(agent, assignee_id=8, assignee_team_ids=frozenset({5}))
    assert can_assign_to(principal(Role.SUPERVISOR), assignee_id=8, assignee_team_ids=frozenset({5}))
