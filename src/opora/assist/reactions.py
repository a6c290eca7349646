"""A ticket that becomes solved joins the similar-tickets index in the transaction that solved it,
so the index never holds a solve that rolled back. One set-based call per transaction."""

from __future__ import annotations

from collections.abc import Sequence

from opora.assist.service import index_solved
from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor
from opora.tickets.lifecycle import Status


def _solved(fact: Fact) -> bool:
    status = fact.data.get("status")
    if not isinstance(status, dict):
        return False
    new, old = status.get("new"), status.get("old")
    # solved → closed changes nothing the index holds; anything else into closed is a first solve.
    return new == Status.SOLVED or (new == Status.CLOSED and old != Status.SOLVED)


@reactor("status_changed", order=60, name="assist.index_solved")
async def index_on_solve(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    ticket_ids = sorted({f.ticket_id for f in facts if _solved(f)})
    if ticket_ids:
        await index_solved(uow, ticket_ids)
