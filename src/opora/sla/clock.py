"""SLA clock arithmetic over plain data: start, pause, resume, fulfil, due time, remaining, breach.

A clock counts time toward a target in one calendar: a business calendar, or ``CALENDAR_24_7``
for targets in calendar time. It keeps the time counted before its current run (``elapsed``)
and the instant the run began (``running_since``); the due instant follows from both, so a
pause freezes the count and a resume computes a fresh due time from what is left.

"Due" is the earliest instant by which the target has elapsed; a clock is breached once the
clock passes its due instant while it is still running, or when it holds more than its target.
Nothing here reads the clock or the database; every function takes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opora.sla.calendar import BusinessCalendar

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class ClockState:
    target: timedelta
    started_at: datetime
    running_since: datetime | None
    elapsed: timedelta
    due_at: datetime | None
    warning_percent: int = 80
    paused_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    fulfilled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.fulfilled_at is None

    @property
    def running(self) -> bool:
        return self.active and self.running_since is not None

    @property
    def paused(self) -> bool:
        return self.active and self.running_since is None


@dataclass(frozen=True, slots=True)
class SlaBadge:
    """A ticket's most urgent active target, as the inbox and ticket page show it."""

    metric: str
    due_at: datetime | None
    paused: bool
    breached: bool
    warned: bool


def due_time(
    running_since: datetime, elapsed: timedelta, target: timedelta, calendar: BusinessCalendar
) -> datetime:
    """When a run that began at ``running_since`` with ``elapsed`` already counted reaches ``target``."""
    if elapsed >= target:
        # Already used up before this run: overdue from the moment it runs again.
        return running_since
    return calendar.add_business_time(running_since, target - elapsed)


def start(
    now: datetime,
    target: timedelta,
    calendar: BusinessCalendar,
    *,
    warning_percent: int = 80,
    paused: bool = False,
) -> ClockState:
    if target <= _ZERO:
        raise ValueError(f"an SLA target must be positive, got {target}")
    if paused:
        return ClockState(target, now, None, _ZERO, None, warning_percent, paused_at=now)
    return ClockState(target, now, now, _ZERO, due_time(now, _ZERO, target, calendar), warning_percent)


def elapsed(state: ClockState, now: datetime, calendar: BusinessCalendar) -> timedelta:
    """Time counted toward the target up to ``now`` (frozen while paused or once fulfilled)."""
    if state.running_since is None or state.fulfilled_at is not None:
        return state.elapsed
    return state.elapsed + calendar.business_time_between(state.running_since, now)


def remaining(state: ClockState, now: datetime, calendar: BusinessCalendar) -> timedelta:
    """Target left at ``now``; negative once overdue."""
    return state.target - elapsed(state, now, calendar)


def is_breached(state: ClockState, now: datetime) -> bool:
    if state.breached_at is not None:
        return True
    if state.fulfilled_at is not None:
        return state.elapsed > state.target
    if state.due_at is not None and now > state.due_at:
        return True
    return state.elapsed > state.target


def pause(state: ClockState, now: datetime, calendar: BusinessCalendar) -> ClockState:
    if not state.running:
        return state
    return replace(
        state, elapsed=elapsed(state, now, calendar), running_since=None, due_at=None, paused_at=now
    )


def resume(state: ClockState, now: datetime, calendar: BusinessCalendar) -> ClockState:
    if not state.paused:
        return state
    return replace(
        state,
        running_since=now,
        paused_at=None,
        due_at=due_time(now, state.elapsed, state.target, calendar),
    )


def fulfil(state: ClockState, now: datetime, calendar: BusinessCalendar) -> ClockState:
    """Stop for good; ``elapsed`` keeps the time it took, ``due_at`` the last promise made."""
    if not state.active:
        return state
    return replace(state, elapsed=elapsed(state, now, calendar), running_since=None, fulfilled_at=now)


def retarget(
    state: ClockState,
    now: datetime,
    old_calendar: BusinessCalendar,
    new_calendar: BusinessCalendar,
    target: timedelta,
    *,
    warning_percent: int,
) -> ClockState:
    """Another policy (or calendar) now applies: keep the time counted, aim at the new target.

    Time counted so far stays as measured under the old calendar; from ``now`` on the new one
    counts. A warning or breach already recorded stays recorded.
    """
    if not state.active:
        return state
    counted = elapsed(state, now, old_calendar)
    if state.running_since is None:
        return replace(state, target=target, warning_percent=warning_percent, elapsed=counted)
    return replace(
        state,
        target=target,
        warning_percent=warning_percent,
        elapsed=counted,
        running_since=now,
        due_at=due_time(now, counted, target, new_calendar),
    )


def warning_time(state: ClockState, calendar: BusinessCalendar) -> datetime | None:
    """When the running clock reaches its warning threshold; None if paused, done or already warned."""
    if not state.running or state.warned_at is not None or state.breached_at is not None:
        return None
    assert state.running_since is not None
    threshold = state.target * state.warning_percent / 100
    if threshold >= state.target:
        return None  # a 100 % threshold is the breach itself
    return due_time(state.running_since, state.elapsed, threshold, calendar)


def restart(
    now: datetime, state: ClockState, calendar: BusinessCalendar, *, paused: bool = False
) -> ClockState:
    """The same target from zero (resolution after a reopen, next response after a new message)."""
    return start(now, state.target, calendar, warning_percent=state.warning_percent, paused=paused)


def most_urgent(clocks: list[tuple[str, ClockState]]) -> SlaBadge | None:
    """The badge of the active clock that needs attention first.

    Breached before running, running by nearest due, paused last (nothing can happen to them).
    """
    best: tuple[tuple[int, float], str, ClockState] | None = None
    for metric, state in clocks:
        if not state.active:
            continue
        if state.breached_at is not None:
            rank = (0, state.due_at.timestamp() if state.due_at else float("-inf"))
        elif state.due_at is not None:
            rank = (1, state.due_at.timestamp())
        else:
            rank = (2, state.target.total_seconds() - state.elapsed.total_seconds())
        if best is None or rank < best[0]:
            best = (rank, metric, state)
    if best is None:
        return None
    _, metric, state = best
    return SlaBadge(
        metric=metric,
        due_at=state.due_at,
        paused=state.running_since is None,
        breached=state.breached_at is not None,
        warned=state.warned_at is not None,
    )
