"""The access log: who opened which customer's personal data, and how."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from opora.db import UnitOfWork
from opora.privacy.models import AccessLogEntry

# What was opened; the ticket page counts because it shows the customer panel.
KINDS = frozenset({"profile", "timeline", "export", "ticket_page", "erase"})


async def log_access(uow: UnitOfWork, *, agent_id: int | None, customer_id: int, what: str) -> None:
    """One row in the caller's transaction: a request that fails leaves no trace of a view it never gave."""
    if what not in KINDS:
        raise ValueError(f"unknown access kind {what!r}")
    uow.session.add(AccessLogEntry(agent_id=agent_id, customer_id=customer_id, what=what))
    await uow.session.flush()


async def entries(
    uow: UnitOfWork,
    *,
    customer_id: int | None = None,
    agent_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AccessLogEntry]:
    query = select(AccessLogEntry)
    if customer_id is not None:
        query = query.where(AccessLogEntry.customer_id == customer_id)
    if agent_id is not None:
        query = query.where(AccessLogEntry.agent_id == agent_id)
    if before_id is not None:
        query = query.where(AccessLogEntry.id < before_id)
    return (await uow.session.scalars(query.order_by(AccessLogEntry.id.desc()).limit(limit))).all()
