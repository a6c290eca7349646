"""A ticket solved schedules its satisfaction survey, in the transaction that solved it."""

from __future__ import annotations

from collections.abc import Sequence

from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor
from opora.surveys import service


def solved(fact: Fact) -> bool:
    status = fact.data.get("status")
    return isinstance(status, dict) and status.get("new") == "solved"


# After the rules (30): a rule that reopens the ticket in the same change wins, and the survey is
# not scheduled for a ticket that is no longer solved.
@reactor("status_changed", order=50, name="surveys.schedule")
async def schedule(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    ticket_ids = sorted({f.ticket_id for f in facts if solved(f)})
    if ticket_ids:
        await service.schedule_for_solved(uow, ticket_ids)
