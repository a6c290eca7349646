"""API shapes of reports, drill-down and the live dashboard."""

from __future__ import annotations

from datetime import datetime

from opora.analytics.definitions import Dimension, Kind, Metric, Stats
from opora.kit.schema import Output


class StatsOut(Output):
    key: str | None
    label: str
    count: int
    hits: int
    rate: float | None
    average: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, s: Stats, label: str) -> StatsOut:
        return cls(
            key=s.key,
            label=label,
            count=s.count,
            hits=s.hits,
            rate=s.rate,
            average=s.average,
            median=s.median,
            p90=s.p90,
        )


class ReportOut(Output):
    metric: Metric
    kind: Kind
    dimension: Dimension
    start: datetime
    end: datetime
    timezone: str
    total: StatsOut
    previous: StatsOut | None
    rows: list[StatsOut]


class DrillOut(Output):
    metric: Metric
    ticket_ids: list[int]
    truncated: bool


class TeamQueueOut(Output):
    team_id: int | None
    team: str
    working: int
    unassigned: int
    waiting: int


class AgentLoadOut(Output):
    agent_id: int
    name: str
    presence: str
    open_tickets: int
    capacity: int | None


class DashboardOut(Output):
    now: datetime
    queues: list[TeamQueueOut]
    agents: list[AgentLoadOut]
    sla_breached: int
    sla_due_within_hour: int
    created_today: int
    created_same_weekday: list[int]
    usual_today: float | None
