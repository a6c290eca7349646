"""Warning and breach checks: one delayed job per clock run, never a sweep over all tickets.

The reactor queues ``sla.check`` for the instant a running clock reaches its warning threshold
and its due time. The payload names the due instant the job was queued for; a clock that moved
since (paused, resumed, fulfilled, re-targeted) holds another due instant, and the job ends
without doing anything. The breach and the warning are recorded as ticket events only:
automation rules react to those events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM
from opora.jobs.registry import JobContext, task
from opora.kit.time import utcnow
from opora.sla import repository as repo
from opora.sla.reactions import CHECK_TASK
from opora.tickets.models import Ticket


class NotDueYet(Exception):
    pass


@task(CHECK_TASK, max_attempts=10, timeout=60)
async def check_clock(ctx: JobContext, payload: dict[str, Any]) -> None:
    await check(ctx.uow, payload, now=utcnow())


async def check(uow: UnitOfWork, payload: dict[str, Any], *, now: datetime) -> str | None:
    """Record the warning or breach the job was queued for, if still due; returns the event kind."""
    kind = payload.get("kind")
    sla = await repo.clock(
        uow.session, int(payload["ticket_id"]), str(payload["metric"]), lock=not uow.is_sqlite
    )
    if sla is None or sla.fulfilled_at is not None or sla.due_at is None:
        return None
    if sla.due_at != datetime.fromisoformat(str(payload.get("due_at"))):
        return None  # the clock moved; the job queued for its new due instant does the work
    if sla.breached_at is not None:
        return None
    if kind == "breach":
        if now < sla.due_at:
            # A worker whose clock runs behind the one that queued the job: retry shortly.
            raise NotDueYet(f"{sla.metric} of ticket {sla.ticket_id} is due at {sla.due_at.isoformat()}")
        sla.breached_at = sla.due_at
        recorded = "sla_breached"
    elif kind == "warning":
        if sla.warned_at is not None:
            return None
        sla.warned_at = now
        recorded = "sla_warning"
    else:
        return None
    sla.updated_at = now
    ticket = await uow.session.get(Ticket, sla.ticket_id)
    await events.record(
        uow,
        ticket_id=sla.ticket_id,
        kind=recorded,
        actor=SYSTEM,
        data={
            "metric": sla.metric,
            "due_at": sla.due_at.isoformat(),
            "policy_id": sla.policy_id,
            "warning_percent": sla.warning_percent,
        },
        team_id=ticket.team_id if ticket else None,
        assignee_id=ticket.assignee_id if ticket else None,
    )
    return recorded
