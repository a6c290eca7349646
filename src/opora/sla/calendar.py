"""Business-hours calendars: the one place where business time is computed (DESIGN invariant 5).

A :class:`BusinessCalendar` is pure data plus arithmetic: it never touches the database and never
reads the clock, so the SLA code, auto-replies and the routing simulator can all share it and tests
can pin every instant.

What counts as open
    An instant is open when the wall clock of the calendar's time zone, at that instant, reads a time
    inside one of the intervals of that local date. The intervals of a date come from, in order of
    precedence: an override for that date (an empty list closes the day, a non-empty list replaces
    the weekly hours); a public holiday of ``holiday_country`` (closed); the weekly hours of its
    weekday. Intervals are half-open ``[start, end)``, ``"24:00"`` may end one, and overnight hours
    are written as two intervals on consecutive days (``22:00-24:00`` and ``00:00-06:00``).

Daylight saving time
    Because openness is defined by the wall clock, an hour skipped in spring contributes nothing and
    an hour repeated in autumn counts twice, exactly as an agent sitting at the desk would live it.
    Arithmetic walks the UTC time line in stretches of constant UTC offset, so results are exact
    across transitions. It assumes that a zone changes its offset at most once within any 24 hours
    (true of the tz database for every zone in current use).

Russian holidays and transferred working days
    ``holidays.country_holidays("RU")`` lists the official non-working days, including the weekdays
    made free by a transfer (for example 2024-04-29 and 2024-04-30). It does *not* list the
    Saturdays or Sundays that become working days in exchange (2024-04-27, 2024-11-02, 2024-12-28):
    the package has no notion of a working weekend day. Those, like a shop's own extra days off,
    must be given as ``overrides`` — the calendar's override table supplies them.

Every public method takes and returns tz-aware datetimes (naive ones raise ``ValueError``);
returned instants are in UTC.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "CALENDAR_24_7",
    "MAX_CLOSED_STRETCH",
    "WEEKDAYS",
    "BusinessCalendar",
    "HoursSpec",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A calendar that stays closed this long is treated as having no working time at all; it turns a
# misconfiguration into an error instead of an endless search.
MAX_CLOSED_STRETCH = timedelta(days=5 * 366)

HoursSpec = Sequence[Sequence[str]]
"""Intervals of one day, e.g. ``[["09:00", "13:00"], ["14:00", "18:00"]]``; empty = closed."""

_Span = tuple[timedelta, timedelta]
_Piece = tuple[datetime, datetime]

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_ZERO = timedelta(0)
_TICK = timedelta(microseconds=1)
_CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")


def _parse_clock(value: object, where: str) -> timedelta:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(f"{where}: a time must be 'HH:MM' from 00:00 to 24:00, got {value!r}")
    hours, minutes = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _format_clock(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_hours(spec: object, where: str) -> tuple[_Span, ...]:
    # A bare string is a Sequence too; without this check "09:00" would be read character by character.
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
        raise ValueError(f"{where}: expected a list of [start, end] intervals, got {spec!r}")
    spans: list[_Span] = []
    for item in spec:
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"{where}: an interval is a pair [start, end], got {item!r}")
        start, end = _parse_clock(item[0], where), _parse_clock(item[1], where)
        if start >= end:
            raise ValueError(
                f"{where}: interval {item[0]}-{item[1]} must end after it starts "
                "(write overnight hours as two intervals on consecutive days)"
            )
        spans.append((start, end))
    spans.sort()
    for (first_start, first_end), (second_start, second_end) in itertools.pairwise(spans):
        if second_start < first_end:
            raise ValueError(
                f"{where}: intervals {_format_clock(first_start)}-{_format_clock(first_end)} and "
                f"{_format_clock(second_start)}-{_format_clock(second_end)} overlap"
            )
    return tuple(spans)


def _weekday_index(key: object) -> int:
    if isinstance(key, str) and key.lower() in WEEKDAYS:
        return WEEKDAYS.index(key.lower())
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    raise ValueError(f"weekly hours: unknown weekday {key!r}; use one of {', '.join(WEEKDAYS)} or 0-6")


def _to_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=512)
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    # Building a year of holidays costs milliseconds; calendars are rebuilt per request, so share them.
    return frozenset(holidays.country_holidays(country, years=year))


class BusinessCalendar:
    """Working hours of one team or shop; immutable once built.

    ``weekly_hours`` maps weekday (``"mon"``..``"sun"`` or 0-6) to intervals; a missing weekday is
    closed. ``holiday_country`` is an ISO code known to the ``holidays`` package or ``None``.
    ``overrides`` maps a local date to the intervals of that date and wins over both.
    """

    __slots__ = ("_country", "_has_working_time", "_overrides", "_timezone", "_tz", "_week", "_week_total")

    def __init__(
        self,
        timezone: str,
        weekly_hours: Mapping[str, HoursSpec] | Mapping[int, HoursSpec],
        holiday_country: str | None = None,
        overrides: Mapping[date, HoursSpec] | None = None,
    ) -> None:
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        self._timezone = timezone

        week: list[tuple[_Span, ...]] = [()] * 7
        seen: set[int] = set()
        for key, spec in weekly_hours.items():
            index = _weekday_index(key)
            if index in seen:
                raise ValueError(f"weekly hours: {WEEKDAYS[index]} is given twice")
            seen.add(index)
            week[index] = _parse_hours(spec, f"weekly hours for {WEEKDAYS[index]}")
        self._week = tuple(week)
        self._week_total = sum((end - start for day in week for start, end in day), _ZERO)

        if holiday_country is not None:
            holiday_country = holiday_country.upper()
            try:
                holidays.country_holidays(holiday_country)
            except NotImplementedError as exc:
                raise ValueError(f"no public holidays known for country {holiday_country!r}") from exc
        self._country = holiday_country

        parsed: dict[date, tuple[_Span, ...]] = {}
        for day, spec in (overrides or {}).items():
            # datetime is a subclass of date; a datetime key would silently never match a lookup.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"overrides: keys must be dates, got {day!r}")
            parsed[day] = _parse_hours(spec, f"override for {day.isoformat()}")
        self._overrides: Mapping[date, tuple[_Span, ...]] = parsed
        self._has_working_time = self._week_total > _ZERO or any(parsed.values())

    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def holiday_country(self) -> str | None:
        return self._country

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(timezone={self._timezone!r}, holiday_country={self._country!r}, "
            f"weekly_total={self._week_total}, overrides={len(self._overrides)})"
        )

    # -- public arithmetic -------------------------------------------------------------------------

    def is_open(self, instant: datetime) -> bool:
        wall = _to_utc(instant, "instant").astimezone(self._tz).replace(tzinfo=None)
        since_midnight = wall - datetime.combine(wall.date(), time())
        return any(start <= since_midnight < end for start, end in self._spans_on(wall.date()))

    def next_opening(self, instant: datetime) -> datetime:
        """The first instant at or after ``instant`` when the calendar is open (``instant`` if open)."""
        cursor = _to_utc(instant, "instant")
        self._require_working_time()
        limit = cursor + MAX_CLOSED_STRETCH
        try:
            while cursor < limit:
                pieces = self._open_pieces(cursor, cursor + _DAY)
                if pieces:
                    return pieces[0][0]
                cursor += _DAY
        except OverflowError as exc:
            raise ValueError("no opening before the end of the supported date range") from exc
        raise ValueError(f"calendar has no working time within {MAX_CLOSED_STRETCH.days} days")

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which ``duration`` of business time has elapsed since ``start``.

        Outside working hours the clock starts at the next opening, so a zero duration gives
        :meth:`next_opening`. A duration that ends exactly at closing time gives the closing instant.
        """
        cursor = _to_utc(start, "start")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        if duration == _ZERO:
            return self.next_opening(cursor)
        self._require_working_time()
        remaining = duration
        last_open = cursor
        try:
            while True:
                # Strictly greater: the due instant then lies beyond the skipped week, not inside it.
                if remaining > self._week_total > _ZERO and self._is_regular_week(cursor):
                    cursor += _WEEK
                    remaining -= self._week_total
                    last_open = cursor
                    continue
                for piece_start, piece_end in self._open_pieces(cursor, cursor + _DAY):
                    if remaining <= piece_end - piece_start:
                        return piece_start + remaining
                    remaining -= piece_end - piece_start
                    last_open = piece_end
                cursor += _DAY
                if cursor - last_open > MAX_CLOSED_STRETCH:
                    raise ValueError(f"calendar has no working time within {MAX_CLOSED_STRETCH.days} days")
        except OverflowError as exc:
            raise ValueError("the result lies beyond the supported date range") from exc

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed in ``[start, end)``; zero when ``end`` is not after ``start``."""
        cursor, stop = _to_utc(start, "start"), _to_utc(end, "end")
        total = _ZERO
        if not self._has_working_time:
            return total
        while cursor < stop:
            if self._week_total > _ZERO and cursor + _WEEK <= stop and self._is_regular_week(cursor):
                total += self._week_total
                cursor += _WEEK
                continue
            chunk_end = min(cursor + _DAY, stop)
            for piece_start, piece_end in self._open_pieces(cursor, chunk_end):
                total += piece_end - piece_start
            cursor = chunk_end
        return total

    # -- internals ----------------------------------------------------------------------------------

    def _require_working_time(self) -> None:
        if not self._has_working_time:
            raise ValueError("calendar has no working time: every weekday and every override is closed")

    def _is_holiday(self, day: date) -> bool:
        return self._country is not None and day in _holiday_dates(self._country, day.year)

    def _spans_on(self, day: date) -> tuple[_Span, ...]:
        override = self._overrides.get(day)
        if override is not None:
            return override
        if self._is_holiday(day):
            return ()
        return self._week[day.weekday()]

    def _offset(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self._tz).utcoffset()
        assert offset is not None  # zoneinfo always knows the offset of an aware instant
        return offset

    def _is_regular_week(self, cursor: datetime) -> bool:
        """Whether the 7 days from ``cursor`` hold exactly the weekly total of business time.

        They do when the UTC offset stays put (so the wall clock also advances 7 days) and no date
        touched is a holiday or an override: the partial weekday at each end then adds up to one
        whole weekday.
        """
        offset = self._offset(cursor)
        if any(self._offset(cursor + k * _DAY) != offset for k in range(1, 8)):
            return False
        first = (cursor + offset).date()
        return not any(
            (day := first + k * _DAY) in self._overrides or self._is_holiday(day) for k in range(8)
        )

    def _open_pieces(self, lo: datetime, hi: datetime) -> list[_Piece]:
        """Open stretches of ``[lo, hi)`` in time order; ``hi - lo`` must not exceed a day."""
        pieces: list[_Piece] = []
        while lo < hi:
            offset = self._offset(lo)
            stretch_end = hi if self._offset(hi) == offset else self._offset_change(lo, hi, offset)
            pieces.extend(self._pieces_at_offset(lo, stretch_end, offset))
            lo = stretch_end
        return pieces

    def _offset_change(self, before: datetime, after: datetime, offset: timedelta) -> datetime:
        # zoneinfo exposes no transition list, so find the change by bisection (about 37 steps a day).
        while after - before > _TICK:
            middle = before + (after - before) / 2
            if self._offset(middle) == offset:
                before = middle
            else:
                after = middle
        return after

    def _pieces_at_offset(self, lo: datetime, hi: datetime, offset: timedelta) -> Iterator[_Piece]:
        # With a fixed offset the wall clock is just UTC shifted, so intervals map one to one.
        wall_lo = (lo + offset).replace(tzinfo=None)
        wall_hi = (hi + offset).replace(tzinfo=None)
        day = wall_lo.date()
        while day <= (wall_hi - _TICK).date():
            midnight = datetime.combine(day, time())
            for start, end in self._spans_on(day):
                wall_start, wall_end = max(midnight + start, wall_lo), min(midnight + end, wall_hi)
                if wall_start < wall_end:
                    yield (wall_start - offset).replace(tzinfo=UTC), (wall_end - offset).replace(tzinfo=UTC)
            day += _DAY


CALENDAR_24_7 = BusinessCalendar("UTC", {day: [("00:00", "24:00")] for day in WEEKDAYS})
"""Always open: for targets measured in calendar time rather than business time."""
