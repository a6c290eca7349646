"""What the reports measure, as plain data, and the arithmetic shared by both databases.

Nothing here reads the database: the metric catalogue, the ways to slice a report, percentiles
with the same interpolation as PostgreSQL's ``percentile_cont``, period buckets in the desk's time
zone, and the rule that calls a topic's hour a spike.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Kind(StrEnum):
    COUNT = "count"  # how many tickets
    DURATION = "duration"  # seconds: average, median, 90th percentile
    RATE = "rate"  # share of the counted tickets that meet the metric's condition
    SCORE = "score"  # a 1-5 rating: average and the share of 4s and 5s


class Metric(StrEnum):
    CREATED = "created"
    SOLVED = "solved"
    FIRST_RESPONSE = "first_response_time"
    NEXT_RESPONSE = "next_response_time"
    RESOLUTION = "resolution_time"
    FCR = "first_contact_resolution"
    REOPEN = "reopen_rate"
    SLA_FIRST_RESPONSE = "sla_first_response"
    SLA_NEXT_RESPONSE = "sla_next_response"
    SLA_RESOLUTION = "sla_resolution"
    ESCALATION = "escalation_rate"
    BOT_RESOLUTION = "bot_resolution_rate"
    BOT_HANDOFF = "bot_handoff_rate"
    BACKLOG = "backlog"
    CSAT = "csat"


KINDS: dict[Metric, Kind] = {
    Metric.CREATED: Kind.COUNT,
    Metric.SOLVED: Kind.COUNT,
    Metric.FIRST_RESPONSE: Kind.DURATION,
    Metric.NEXT_RESPONSE: Kind.DURATION,
    Metric.RESOLUTION: Kind.DURATION,
    Metric.FCR: Kind.RATE,
    Metric.REOPEN: Kind.RATE,
    Metric.SLA_FIRST_RESPONSE: Kind.RATE,
    Metric.SLA_NEXT_RESPONSE: Kind.RATE,
    Metric.SLA_RESOLUTION: Kind.RATE,
    Metric.ESCALATION: Kind.RATE,
    Metric.BOT_RESOLUTION: Kind.RATE,
    Metric.BOT_HANDOFF: Kind.RATE,
    # The backlog is the desk now; its value is each open ticket's age.
    Metric.BACKLOG: Kind.DURATION,
    Metric.CSAT: Kind.SCORE,
}

# The SLA module's clock names, per compliance metric.
SLA_CLOCKS: dict[Metric, str] = {
    Metric.SLA_FIRST_RESPONSE: "first_response",
    Metric.SLA_NEXT_RESPONSE: "next_response",
    Metric.SLA_RESOLUTION: "resolution",
}

# Bot outcomes are ticket events the bot module records; analytics only reads them.
BOT_RESOLVED = "bot_resolved"
BOT_HANDOFF = "bot_handoff"


class Dimension(StrEnum):
    TOTAL = "total"
    AGENT = "agent"
    TEAM = "team"
    CHANNEL = "channel"
    TOPIC = "topic"
    PRIORITY = "priority"
    SEGMENT = "segment"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


PERIODS = frozenset({Dimension.HOUR, Dimension.DAY, Dimension.WEEK, Dimension.MONTH})
MAX_SPAN = timedelta(days=366)


@dataclass(frozen=True)
class Filters:
    """The ticket attributes a report is narrowed to; an empty tuple means any."""

    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    channel_types: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stats:
    """One row of a report: the figures of one slice."""

    key: str | None
    count: int
    hits: int  # tickets meeting the condition (rates) or rated 4-5 (CSAT)
    average: float | None
    median: float | None
    p90: float | None

    @property
    def rate(self) -> float | None:
        return self.hits / self.count if self.count else None


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks, exactly as ``percentile_cont`` computes it."""
    return percentile_at(len(ordered), fraction, ordered.__getitem__)


def percentile_at(count: int, fraction: float, at: Callable[[int], float]) -> float | None:
    """``percentile`` of ``count`` ordered values of which ``at`` gives the one at a rank (from 0):
    it reads only the two ranks around ``fraction * (count - 1)``, as PostgreSQL does, in the same
    double arithmetic, so it returns the same number."""
    if not count:
        return None
    position = (count - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(at(low))
    return float(at(low) + (at(high) - at(low)) * (position - low))


def stats(key: str | None, values: Sequence[float | None], hits: int) -> Stats:
    numbers = sorted(v for v in values if v is not None)
    return Stats(
        key=key,
        count=len(values),
        hits=hits,
        average=statistics.fmean(numbers) if numbers else None,
        median=percentile(numbers, 0.5),
        p90=percentile(numbers, 0.9),
    )


def bucket_start(at: datetime, unit: Dimension, zone: ZoneInfo) -> datetime:
    """The local start of the hour, day, ISO week (Monday) or month holding ``at``, naive local time."""
    local = at.astimezone(zone).replace(tzinfo=None)
    if unit == Dimension.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == Dimension.DAY:
        return day
    if unit == Dimension.WEEK:
        return day - timedelta(days=day.weekday())
    if unit == Dimension.MONTH:
        return day.replace(day=1)
    raise ValueError(f"{unit} is not a period")


def bucket_end(start: datetime, unit: Dimension) -> datetime:
    if unit == Dimension.HOUR:
        return start + timedelta(hours=1)
    if unit == Dimension.DAY:
        return start + timedelta(days=1)
    if unit == Dimension.WEEK:
        return start + timedelta(days=7)
    if unit == Dimension.MONTH:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    raise ValueError(f"{unit} is not a period")


def bucket_key(start: datetime) -> str:
    return start.strftime("%Y-%m-%dT%H:%M")


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))


# -- spikes -----------------------------------------------------------------------------------------

SPIKE_MIN_COUNT = 5  # fewer tickets than this in an hour is never an incident
SPIKE_FACTOR = 3.0  # ... nor is anything under three times the usual level
SPIKE_SIGMAS = 3.0


def usual_level(history: Sequence[int]) -> float:
    return statistics.fmean(history) if history else 0.0


def is_spike(current: int, history: Sequence[int]) -> bool:
    """Whether ``current`` tickets of a topic in an hour stand out against ``history``, the same
    weekday and hour of the previous weeks: well above the usual level and above its noise."""
    if current < SPIKE_MIN_COUNT:
        return False
    usual = usual_level(history)
    spread = statistics.pstdev(history) if len(history) > 1 else 0.0
    # A topic never seen at this hour counts as one ticket an hour, so five new ones are a spike.
    return current >= SPIKE_FACTOR * max(usual, 1.0) and current >= usual + SPIKE_SIGMAS * spread
