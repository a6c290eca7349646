"""SLA clock arithmetic: worked examples, then pauses against a minute-by-minute oracle."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opora.sla import CALENDAR_24_7, WEEKDAYS, BusinessCalendar, clock
from opora.sla.clock import ClockState

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
NINE_TO_SIX = {day: [["09:00", "18:00"]] for day in WEEKDAYS[:5]}


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def desk() -> BusinessCalendar:
    return BusinessCalendar("Europe/Berlin", NINE_TO_SIX, "DE")


# -- worked examples ------------------------------------------------------------------------------


def test_start_computes_due_in_business_time() -> None:
    state = clock.start(berlin(2025, 3, 14, 17), 2 * H, desk())
    assert state.running and state.due_at == berlin(2025, 3, 17, 10)
    assert state.elapsed == timedelta(0)


def test_pause_freezes_elapsed_and_resume_moves_due() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 10, 9), 4 * H, cal)
    paused = clock.pause(state, berlin(2025, 3, 10, 10), cal)
    assert paused.paused and paused.due_at is None and paused.elapsed == H
    # Paused for a day: nothing counts, however long it lasts.
    assert clock.elapsed(paused, berlin(2025, 3, 12, 12), cal) == H
    resumed = clock.resume(paused, berlin(2025, 3, 11, 17), cal)
    assert resumed.running and resumed.due_at == berlin(2025, 3, 12, 11)
    assert clock.remaining(resumed, berlin(2025, 3, 12, 10), cal) == H


def test_pause_and_resume_are_idempotent() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 10, 9), H, cal)
    assert clock.resume(state, berlin(2025, 3, 10, 9, 30), cal) == state
    paused = clock.pause(state, berlin(2025, 3, 10, 9, 30), cal)
    assert clock.pause(paused, berlin(2025, 3, 10, 9, 40), cal) == paused


def test_start_paused_has_no_due_time() -> None:
    state = clock.start(berlin(2025, 3, 10, 9), H, desk(), paused=True)
    assert state.paused and state.due_at is None and state.paused_at == berlin(2025, 3, 10, 9)


def test_fulfil_keeps_elapsed_and_stops_counting() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 10, 9), 2 * H, cal)
    done = clock.fulfil(state, berlin(2025, 3, 10, 12), cal)
    assert not done.active and done.elapsed == 3 * H
    assert clock.elapsed(done, berlin(2025, 3, 20), cal) == 3 * H
    assert clock.is_breached(done, berlin(2025, 3, 10, 12))
    assert clock.fulfil(done, berlin(2025, 3, 11), cal) == done


def test_breach_is_passing_the_due_instant() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 14, 9), 9 * H, cal)
    assert state.due_at == berlin(2025, 3, 14, 18)
    assert not clock.is_breached(state, berlin(2025, 3, 14, 18))
    assert clock.is_breached(state, berlin(2025, 3, 14, 18, 1))
    assert clock.remaining(state, berlin(2025, 3, 15, 12), cal) == timedelta(0)


def test_retarget_keeps_counted_time() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 10, 9), 8 * H, cal)
    moved = clock.retarget(state, berlin(2025, 3, 10, 12), cal, cal, 4 * H, warning_percent=50)
    assert moved.elapsed == 3 * H and moved.due_at == berlin(2025, 3, 10, 13)
    assert moved.warning_percent == 50
    # A target already used up is overdue from the moment it applies.
    over = clock.retarget(state, berlin(2025, 3, 10, 12), cal, cal, 2 * H, warning_percent=80)
    assert over.due_at == berlin(2025, 3, 10, 12)
    # Switching to calendar time counts the night too.
    to_24_7 = clock.retarget(state, berlin(2025, 3, 10, 17), cal, CALENDAR_24_7, 10 * H, warning_percent=80)
    assert to_24_7.due_at == berlin(2025, 3, 10, 19)


def test_warning_time_is_the_threshold_share_of_the_target() -> None:
    cal = desk()
    state = clock.start(berlin(2025, 3, 14, 17), 10 * H, cal, warning_percent=80)
    assert clock.warning_time(state, cal) == berlin(2025, 3, 17, 16)
    assert clock.warning_time(clock.pause(state, berlin(2025, 3, 14, 17, 30), cal), cal) is None
    full = clock.start(berlin(2025, 3, 14, 17), 10 * H, cal, warning_percent=100)
    assert clock.warning_time(full, cal) is None


def test_most_urgent_prefers_breached_then_nearest_due_then_paused() -> None:
    cal = desk()
    t0 = berlin(2025, 3, 10, 9)
    soon = clock.start(t0, H, cal)
    later = clock.start(t0, 5 * H, cal)
    paused = clock.pause(clock.start(t0, 2 * H, cal), t0, cal)
    badge = clock.most_urgent([("resolution", later), ("first_response", soon), ("next_response", paused)])
    assert badge is not None and badge.metric == "first_response" and not badge.paused
    breached = replace(later, breached_at=later.due_at)
    badge = clock.most_urgent([("first_response", soon), ("resolution", breached)])
    assert badge is not None and badge.metric == "resolution" and badge.breached
    badge = clock.most_urgent([("next_response", paused)])
    assert badge is not None and badge.paused and badge.due_at is None
    assert clock.most_urgent([("resolution", clock.fulfil(soon, t0, cal))]) is None


def test_non_positive_target_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        clock.start(berlin(2025, 3, 10, 9), timedelta(0), desk())


# -- properties: pauses and resumes against a minute-by-minute oracle -----------------------------

# Bases sit on DST changes and public holidays of zones other than Moscow.
ZONES_AND_DATES = [
    ("Europe/Berlin", datetime(2025, 3, 29, 12, tzinfo=UTC), "DE"),
    ("Europe/Berlin", datetime(2025, 10, 25, 12, tzinfo=UTC), "DE"),
    ("Europe/Berlin", datetime(2025, 12, 24, 8, tzinfo=UTC), "DE"),
    ("America/New_York", datetime(2025, 3, 8, 15, tzinfo=UTC), "US"),
    ("America/New_York", datetime(2025, 11, 1, 15, tzinfo=UTC), "US"),
    ("America/New_York", datetime(2025, 11, 26, 15, tzinfo=UTC), "US"),
]


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_hours(draw: st.DrawFn) -> list[tuple[str, str]]:
    """0-2 intervals on a half-hour grid; 24:00 may end one (overnight hours are two days)."""
    count = draw(st.integers(0, 2))
    points = sorted(draw(st.sets(st.integers(0, 48), min_size=2 * count, max_size=2 * count)))
    return [(_clock_text(points[i] * 30), _clock_text(points[i + 1] * 30)) for i in range(0, 2 * count, 2)]


@dataclass(frozen=True)
class Scenario:
    zone: str
    weekly: dict[str, list[tuple[str, str]]]
    country: str | None
    overrides: dict[date, list[tuple[str, str]]]
    start: datetime
    target_minutes: int
    # Minutes between moves; the clock alternates pause, resume, pause, ... from running.
    gaps: list[int]
    tail: int

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.zone, self.weekly, self.country, self.overrides)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone, base, country = draw(st.sampled_from(ZONES_AND_DATES))
    weekly = {day: draw(day_hours()) for day in WEEKDAYS}
    # Most weeks have some working time; a fully closed week would only test the search bound.
    weekly["wed"] = weekly["wed"] or [("22:00", "24:00")]
    weekly["thu"] = weekly["thu"] or [("00:00", "06:00"), ("09:00", "17:00")]
    local = base.astimezone(ZoneInfo(zone)).date()
    overrides = draw(
        st.dictionaries(st.integers(-2, 6).map(lambda k: local + timedelta(days=k)), day_hours(), max_size=3)
    )
    start = base + draw(st.integers(-24 * 60, 2 * 24 * 60)) * M
    return Scenario(
        zone=zone,
        weekly=weekly,
        country=draw(st.sampled_from([None, country])),
        overrides=overrides,
        start=start,
        target_minutes=draw(st.integers(1, 20 * 60)),
        gaps=draw(st.lists(st.integers(0, 30 * 60), max_size=5)),
        tail=draw(st.integers(0, 2 * 24 * 60)),
    )


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


class Oracle:
    """Counts open minutes one by one from the raw configuration, with no arithmetic shortcuts."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.tz = ZoneInfo(s.zone)

    @staticmethod
    def _spans(intervals: list[tuple[str, str]]) -> list[tuple[int, int]]:
        def minutes(text: str) -> int:
            hours, mins = text.split(":")
            return int(hours) * 60 + int(mins)

        return [(minutes(a), minutes(b)) for a, b in intervals]

    def open_at(self, minute: datetime) -> bool:
        wall = minute.astimezone(self.tz)
        day = wall.date()
        if day in self.s.overrides:
            spans = self._spans(self.s.overrides[day])
        elif self.s.country and day in _holidays(self.s.country, day.year):
            spans = []
        else:
            spans = self._spans(self.s.weekly[WEEKDAYS[day.weekday()]])
        of_day = wall.hour * 60 + wall.minute
        return any(a <= of_day < b for a, b in spans)

    def runs(self) -> list[tuple[datetime, datetime | None]]:
        """The stretches the clock runs: [start, first pause), [resume, next pause), ..."""
        moments = [self.s.start]
        for gap in self.s.gaps:
            moments.append(moments[-1] + gap * M)
        stretches: list[tuple[datetime, datetime | None]] = []
        for i in range(0, len(moments), 2):
            stretches.append((moments[i], moments[i + 1] if i + 1 < len(moments) else None))
        return stretches

    def elapsed(self, until: datetime) -> int:
        counted = 0
        for begin, end in self.runs():
            stop = min(end or until, until)
            cursor = begin
            while cursor < stop:
                counted += self.open_at(cursor)
                cursor += M
        return counted

    def due(self, resumed_at: datetime, counted: int) -> datetime | None:
        if counted >= self.s.target_minutes:
            return resumed_at
        cursor = resumed_at
        for _ in range(30 * 24 * 60):
            if self.open_at(cursor):
                counted += 1
                if counted == self.s.target_minutes:
                    return cursor + M
            cursor += M
        return None


def play(s: Scenario) -> tuple[ClockState, datetime]:
    cal = s.calendar()
    state = clock.start(s.start, s.target_minutes * M, cal)
    now = s.start
    for index, gap in enumerate(s.gaps):
        now += gap * M
        state = clock.pause(state, now, cal) if index % 2 == 0 else clock.resume(state, now, cal)
    return state, now


PROPERTY = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(s=scenarios())
def test_elapsed_with_pauses_matches_minute_oracle(s: Scenario) -> None:
    state, last_move = play(s)
    oracle = Oracle(s)
    end = last_move + s.tail * M
    assert clock.elapsed(state, end, s.calendar()) == oracle.elapsed(end) * M
    assert state.elapsed == oracle.elapsed(last_move) * M


@PROPERTY
@given(s=scenarios())
def test_due_time_after_pauses_matches_minute_oracle(s: Scenario) -> None:
    state, last_move = play(s)
    assume(state.running)
    counted = Oracle(s).elapsed(last_move)
    expected = Oracle(s).due(last_move, counted)
    assume(expected is not None)
    assert state.due_at == expected
    # At the due instant the target has just elapsed (or was already used up before the resume).
    assert expected is not None
    assert clock.elapsed(state, expected, s.calendar()) == max(s.target_minutes, counted) * M
    # Breached only once the due instant has passed, or at once if the pause began past the target.
    assert clock.is_breached(state, expected) == (counted > s.target_minutes)
    assert clock.is_breached(state, expected + timedelta(microseconds=1))


@PROPERTY
@given(s=scenarios(), later=st.integers(0, 3 * 24 * 60))
def test_retarget_to_a_new_calendar_keeps_time_counted(s: Scenario, later: int) -> None:
    state, last_move = play(s)
    at = last_move + later * M
    counted = Oracle(s).elapsed(at)
    moved = clock.retarget(state, at, s.calendar(), CALENDAR_24_7, (counted + 90) * M, warning_percent=80)
    assert moved.elapsed == counted * M
    if moved.running:
        assert moved.due_at == at + 90 * M
