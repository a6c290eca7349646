"""Use cases for agents and teams: validate (check_*), then write (do_*)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from opora.agents import repository
from opora.agents.models import Agent, Role, Team, TeamMember
from opora.agents.schemas import AgentCreate, AgentOut, AgentUpdate, TeamCreate, TeamOut, TeamUpdate
from opora.auth.passwords import hash_password
from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.kit.errors import Conflict, Forbidden, InvalidInput, NotFound

# What an agent may change on its own profile without being an admin.
SELF_SERVICE_FIELDS = frozenset({"name", "password", "language", "timezone", "presence"})


async def check_team_ids(uow: UnitOfWork, team_ids: Sequence[int], field: str) -> None:
    missing = set(team_ids) - await repository.existing_team_ids(uow.session, team_ids)
    if missing:
        raise InvalidInput(f"Unknown team ids: {sorted(missing)}.", field=field)


async def check_agent_ids(uow: UnitOfWork, agent_ids: Sequence[int], field: str) -> None:
    for agent_id in set(agent_ids):
        if await repository.get_agent(uow.session, agent_id) is None:
            raise InvalidInput(f"Agent {agent_id} does not exist.", field=field)


async def create_agent(uow: UnitOfWork, data: AgentCreate) -> Agent:
    if await repository.get_agent_by_email(uow.session, data.email) is not None:
        raise Conflict(f"An agent with e-mail {data.email} already exists.", field="email")
    await check_team_ids(uow, data.team_ids, "team_ids")
    agent = Agent(
        email=data.email,
        name=data.name,
        password_hash=hash_password(data.password) if data.password else None,
        role=data.role,
        language=data.language,
        timezone=data.timezone,
    )
    uow.session.add(agent)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # a concurrent create with the same e-mail
        raise Conflict(f"An agent with e-mail {data.email} already exists.", field="email") from exc
    await repository.set_agent_teams(uow.session, agent.id, data.team_ids)
    return agent


async def get_agent(uow: UnitOfWork, agent_id: int) -> Agent:
    agent = await repository.get_agent(uow.session, agent_id)
    if agent is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    return agent


async def update_agent(uow: UnitOfWork, principal: Principal, agent_id: int, data: AgentUpdate) -> Agent:
    changes = data.model_dump(exclude_unset=True)
    own_profile = agent_id == principal.agent_id and set(changes) <= SELF_SERVICE_FIELDS
    if not principal.is_admin and not own_profile:
        raise Forbidden("Agents may change only their own name, password, language, time zone and presence.")
    agent = await get_agent(uow, agent_id)
    if agent_id == principal.agent_id and (
        changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active") is False
    ):
        # An admin locking themselves out would leave the desk without an admin.
        raise InvalidInput("You cannot demote or disable your own account.", field="role")
    if "team_ids" in changes:
        await check_team_ids(uow, changes["team_ids"], "team_ids")
        await repository.set_agent_teams(uow.session, agent.id, changes.pop("team_ids"))
    if "password" in changes:
        agent.password_hash = hash_password(changes.pop("password"))
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
        setattr(agent, key, value)
    await uow.session.flush()
    return agent


async def agent_out(uow: UnitOfWork, agents: Sequence[Agent]) -> list[AgentOut]:
    teams = await repository.team_ids_by_agent(uow.session, [a.id for a in agents])
    return [
        AgentOut.model_validate({**_columns(agent), "team_ids": teams.get(agent.id, [])}) for agent in agents
    ]


def _columns(row: Agent | Team) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


async def create_team(uow: UnitOfWork, data: TeamCreate) -> Team:
    if await repository.get_team_by_name(uow.session, data.name) is not None:
        raise Conflict(f"A team named {data.name!r} already exists.", field="name")
    await _check_calendar(uow, data.calendar_id)
    await check_agent_ids(uow, data.member_ids, "member_ids")
    team = Team(name=data.name, description=data.description, calendar_id=data.calendar_id)
    uow.session.add(team)
    await uow.session.flush()
    uow.session.add_all([TeamMember(team_id=team.id, agent_id=a) for a in sorted(set(data.member_ids))])
    await uow.session.flush()
    return team


async def get_team(uow: UnitOfWork, team_id: int) -> Team:
    team = await repository.get_team(uow.session, team_id)
    if team is None:
        raise NotFound(f"Team {team_id} does not exist.")
    return team


async def update_team(uow: UnitOfWork, team_id: int, data: TeamUpdate) -> Team:
    team = await get_team(uow, team_id)
    changes = data.model_dump(exclude_unset=True)
    renamed = "name" in changes and changes["name"] != team.name
    if renamed and (
        changes["name"] is None or await repository.get_team_by_name(uow.session, changes["name"])
    ):
        raise Conflict(f"A team named {changes['name']!r} already exists.", field="name")
    if "calendar_id" in changes:
        await _check_calendar(uow, changes["calendar_id"])
    if "member_ids" in changes:
        members = changes.pop("member_ids") or []
        await check_agent_ids(uow, members, "member_ids")
        current = set(await repository.member_ids(uow.session, team.id))
        for agent_id in current - set(members):
            await uow.session.delete(await uow.session.get(TeamMember, (team.id, agent_id)))
        uow.session.add_all([TeamMember(team_id=team.id, agent_id=a) for a in set(members) - current])
    for key, value in changes.items():
        setattr(team, key, value if value is not None or key == "calendar_id" else getattr(team, key))
    await uow.session.flush()
    return team


async def _check_calendar(uow: UnitOfWork, calendar_id: int | None) -> None:
    if calendar_id is not None and await repository.get_calendar(uow.session, calendar_id) is None:
        raise InvalidInput(f"Calendar {calendar_id} does not exist.", field="calendar_id")


async def team_out(uow: UnitOfWork, team: Team) -> TeamOut:
    members = await repository.member_ids(uow.session, team.id)
    return TeamOut.model_validate({**_columns(team), "member_ids": members})
