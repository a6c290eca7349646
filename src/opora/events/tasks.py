"""Jobs of the events package."""

from __future__ import annotations

from typing import Any

from opora.events import reactions
from opora.jobs.registry import JobContext, task


@task(reactions.DEFERRED_TASK, max_attempts=10)
async def react(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Reactions deferred by a transaction whose process did not run them (ADR 0040)."""
    reactions.discover()  # a worker process built without a runtime has not imported them
    # They run before the job's transaction commits, with the job marked done.
    reactions.note(ctx.uow, reactions.decode_facts(payload["facts"]))
