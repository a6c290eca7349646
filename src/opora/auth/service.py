"""Login, sessions and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from opora.agents import repository as agents_repo
from opora.agents.models import Agent, Role
from opora.auth import repository
from opora.auth.models import AgentSession, ApiToken, LoginFailure
from opora.auth.passwords import verify_password
from opora.auth.permissions import Principal
from opora.config import Settings
from opora.db import Database, UnitOfWork
from opora.kit.crypto import constant_time_equal, new_token, sha256_hex
from opora.kit.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from opora.kit.time import utcnow

TOKEN_PREFIX = "opr_"


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    agent: Agent


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    csrf_token: str | None  # set for cookie sessions: unsafe methods must echo it


async def login(
    database: Database, settings: Settings, *, email: str, password: str, client_ip: str
) -> NewSession:
    """Check the password and open a session.

    Uses its own transactions rather than the request's: a failed attempt must be recorded even
    though the call answers 401, or the rate limit would never trip.
    """
    email = email.strip().lower()
    keys = [f"email:{email}", f"ip:{client_ip}"]
    window_start = utcnow() - timedelta(seconds=settings.login_window_seconds)
    async with database.uow() as uow:
        failures = await repository.max_failures_per_key(uow.session, keys, window_start)
    if failures >= settings.login_max_failures:
        raise RateLimited(
            "Too many failed logins; try again later.", retry_after=settings.login_window_seconds
        )
    async with database.uow() as uow:
        agent = await agents_repo.get_agent_by_email(uow.session, email)
        ok = verify_password(password, agent.password_hash if agent else None)
        if not ok or agent is None or not agent.is_active:
            uow.session.add_all([LoginFailure(key=key, at=utcnow()) for key in keys])
            failed = True
        else:
            failed = False
            await repository.clear_failures(uow.session, keys[0])
            cookie_value = new_token()
            csrf = new_token(24)
            uow.session.add(
                AgentSession(
                    token_hash=sha256_hex(cookie_value),
                    agent_id=agent.id,
                    csrf_token=csrf,
                    expires_at=utcnow() + timedelta(days=settings.session_days),
                )
            )
    if failed or agent is None:
        raise Unauthenticated("E-mail or password is wrong.")
    return NewSession(cookie_value=cookie_value, csrf_token=csrf, agent=agent)


async def logout(uow: UnitOfWork, cookie_value: str) -> None:
    await repository.delete_session(uow.session, sha256_hex(cookie_value))


async def _principal_for(uow: UnitOfWork, agent_id: int, via: str) -> Principal:
    agent = await agents_repo.get_agent(uow.session, agent_id)
    if agent is None or not agent.is_active:
        raise Unauthenticated("The account is disabled.")
    team_ids = await agents_repo.team_ids_of(uow.session, agent.id)
    return Principal(agent_id=agent.id, role=Role(agent.role), team_ids=team_ids, via=via)


async def authenticate_token(uow: UnitOfWork, raw: str) -> Authenticated:
    token = await repository.token_by_hash(uow.session, sha256_hex(raw))
    if token is None or token.revoked_at is not None:
        raise Unauthenticated("The API token is not valid.")
    now = utcnow()
    # Writing on every call would turn each GET into a write; a coarse timestamp is enough.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now
    return Authenticated(await _principal_for(uow, token.agent_id, "token"), None)


async def authenticate_session(uow: UnitOfWork, cookie_value: str) -> Authenticated:
    row = await repository.session_by_hash(uow.session, sha256_hex(cookie_value))
    if row is None or row.expires_at <= utcnow():
        raise Unauthenticated("The session has expired; log in again.")
    return Authenticated(await _principal_for(uow, row.agent_id, "session"), row.csrf_token)


def check_csrf(expected: str | None, given: str | None) -> None:
    if expected is None:
        return
    if not given or not constant_time_equal(expected, given):
        raise Forbidden("The CSRF token is missing or wrong.", reason="csrf")


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


async def create_token(
    uow: UnitOfWork, principal: Principal, *, name: str, agent_id: int | None
) -> IssuedToken:
    owner_id = agent_id if agent_id is not None else principal.agent_id
    if owner_id != principal.agent_id and not principal.is_admin:
        raise Forbidden("Only admins create tokens for other agents.")
    owner = await agents_repo.get_agent(uow.session, owner_id)
    if owner is None:
        raise NotFound(f"Agent {owner_id} does not exist.", field="agent_id")
    return await issue_token(uow, agent_id=owner_id, name=name)


async def issue_token(uow: UnitOfWork, *, agent_id: int, name: str) -> IssuedToken:
    secret = TOKEN_PREFIX + new_token()
    token = ApiToken(agent_id=agent_id, name=name, prefix=secret[:10], token_hash=sha256_hex(secret))
    uow.session.add(token)
    await uow.session.flush()
    return IssuedToken(token=token, secret=secret)


async def revoke_token(uow: UnitOfWork, principal: Principal, token_id: int) -> ApiToken:
    token = await uow.session.get(ApiToken, token_id)
    if token is None or (token.agent_id != principal.agent_id and not principal.is_admin):
        raise NotFound(f"Token {token_id} does not exist.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token
