"""All SQL about sessions, API tokens and failed logins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.auth.models import AgentSession, ApiToken, LoginFailure


async def session_by_hash(session: AsyncSession, token_hash: str) -> AgentSession | None:
    return (await session.scalars(select(AgentSession).where(AgentSession.token_hash == token_hash))).first()


async def delete_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash))


async def delete_expired_sessions(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(AgentSession).where(AgentSession.expires_at < now))


async def token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    return (await session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash))).first()


async def list_tokens(session: AsyncSession, *, agent_id: int | None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if agent_id is not None:
        query = query.where(ApiToken.agent_id == agent_id)
    return (await session.scalars(query)).all()


async def count_failures(session: AsyncSession, keys: Sequence[str], since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key.in_(keys), LoginFailure.at >= since)
    )
    return int((await session.scalar(query)) or 0)


async def max_failures_per_key(session: AsyncSession, keys: Sequence[str], since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key.in_(keys), LoginFailure.at >= since)
        .group_by(LoginFailure.key)
    )
    counts = (await session.scalars(query)).all()
    return max(counts, default=0)


async def clear_failures(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.key == key))


async def delete_old_failures(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.at < before))
