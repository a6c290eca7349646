"""Keyword-only factories and named personas for tests."""

from __future__ import annotations

from dataclasses import dataclass

from opora.agents import service as agents_service
from opora.agents.models import Agent, Role, Team
from opora.agents.schemas import AgentCreate, TeamCreate
from opora.auth import service as auth_service
from opora.runtime import Runtime

PASSWORD = "correct horse battery"


async def make_team(runtime: Runtime, *, name: str) -> Team:
    async with runtime.db.uow() as uow:
        return await agents_service.create_team(uow, TeamCreate(name=name))


async def make_agent(
    runtime: Runtime,
    *,
    email: str,
    name: str | None = None,
    role: Role = Role.AGENT,
    team_ids: list[int] | None = None,
    password: str | None = None,
) -> Agent:
    async with runtime.db.uow() as uow:
        return await agents_service.create_agent(
            uow,
            AgentCreate(
                email=email,
                name=name or email.split("@")[0],
                role=role,
                password=password,
                team_ids=team_ids or [],
            ),
        )


async def bearer_for(runtime: Runtime, agent: Agent) -> dict[str, str]:
    async with runtime.db.uow() as uow:
        issued = await auth_service.issue_token(uow, agent_id=agent.id, name="test")
    return {"Authorization": f"Bearer {issued.secret}"}


@dataclass
class Desk:
    """A small desk: Anna the admin, Sergey the supervisor, Olga (team Support) and Pavel (team
    Billing) the agents, and Rita with read-only access in Support."""

    support: Team
    billing: Team
    admin: Agent
    supervisor: Agent
    olga: Agent
    pavel: Agent
    reader: Agent
    admin_h: dict[str, str]
    supervisor_h: dict[str, str]
    olga_h: dict[str, str]
    pavel_h: dict[str, str]
    reader_h: dict[str, str]


async def make_desk(runtime: Runtime) -> Desk:
    support = await make_team(runtime, name="Support")
    billing = await make_team(runtime, name="Billing")
    admin = await make_agent(runtime, email="anna@shop.test", name="Anna", role=Role.ADMIN)
    supervisor = await make_agent(runtime, email="sergey@shop.test", name="Sergey", role=Role.SUPERVISOR)
    # Only Olga logs in with a password in tests: argon2 is slow on purpose, so the rest have none.
    olga = await make_agent(
        runtime, email="olga@shop.test", name="Olga", team_ids=[support.id], password=PASSWORD
    )
    pavel = await make_agent(runtime, email="pavel@shop.test", name="Pavel", team_ids=[billing.id])
    reader = await make_agent(
        runtime, email="rita@shop.test", name="Rita", role=Role.READONLY, team_ids=[support.id]
    )
    return Desk(
        support=support,
        billing=billing,
        admin=admin,
        supervisor=supervisor,
        olga=olga,
        pavel=pavel,
        reader=reader,
        admin_h=await bearer_for(runtime, admin),
        supervisor_h=await bearer_for(runtime, supervisor),
        olga_h=await bearer_for(runtime, olga),
        pavel_h=await bearer_for(runtime, pavel),
        reader_h=await bearer_for(runtime, reader),
    )


async def session_for(runtime: Runtime, agent: Agent) -> tuple[str, str]:
    """A browser session for ``agent`` without the (slow on purpose) password check:
    the cookie value and the session's CSRF token."""
    from datetime import timedelta

    from opora.auth.models import AgentSession
    from opora.kit.crypto import new_token, sha256_hex
    from opora.kit.time import utcnow

    cookie, csrf = new_token(), new_token(24)
    async with runtime.db.uow() as uow:
        uow.session.add(
            AgentSession(
                token_hash=sha256_hex(cookie),
                agent_id=agent.id,
                csrf_token=csrf,
                expires_at=utcnow() + timedelta(days=1),
            )
        )
    return cookie, csrf
