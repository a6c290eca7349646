"""The delayed job that serves a team queue again when a ticket's skill fallback wait ends."""

from __future__ import annotations

from typing import Any

from opora.jobs.registry import JobContext, task
from opora.routing import service


@task(service.SERVE_TASK, max_attempts=5, timeout=60)
async def serve_team(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.route_teams(ctx.uow, [int(payload["team_id"])])
