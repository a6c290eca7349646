"""New tickets (and tickets whose topic changed) join the incidents whose rule they match, in the
transaction that created them, so the next update of the incident already reaches them."""

from __future__ import annotations

from collections.abc import Sequence

from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor
from opora.incidents import service


# After routing (20) and rules (30), which may set the topic in the same transaction.
@reactor("ticket_created", "topic_changed", order=35, name="incidents.link_by_rule")
async def link_by_rule(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await service.link_by_rules(uow, sorted({f.ticket_id for f in facts}))
