"""The periodic walk that recounts every customer's figures and re-applies the segment rules.

Figures change in the transactions that move them (see reactions.py); this walk catches what
those cannot: a rule added or edited, and anything recounted nowhere else. One batch per job
(and transaction), continued in a fresh job, so a large desk never holds one long transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opora.customers import repository, segments
from opora.jobs.registry import JobContext, periodic
from opora.jobs.service import enqueue


@periodic(segments.REFRESH_TASK, every=timedelta(hours=24))
async def refresh_segments(ctx: JobContext, payload: dict[str, Any]) -> None:
    after = int(payload.get("after_id") or 0)
    ids = await repository.customer_ids_after(ctx.uow.session, after, limit=segments.BATCH)
    await segments.refresh(ctx.uow, ids)
    if len(ids) == segments.BATCH:
        await enqueue(
            ctx.uow,
            segments.REFRESH_TASK,
            {"after_id": ids[-1]},
            unique_key=f"{segments.REFRESH_TASK}:after:{ids[-1]}",
        )
