"""API shapes of the job queue for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opora.kit.schema import Output


class JobOut(Output):
    id: int
    task: str
    payload: dict[str, Any]
    state: str
    unique_key: str | None
    attempts: int
    max_attempts: int
    run_at: datetime
    lease_until: datetime | None
    locked_by: str | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class QueueStatsOut(Output):
    counts: dict[str, int]
    lag_seconds: float
