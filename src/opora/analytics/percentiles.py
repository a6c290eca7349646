"""A report's exact medians and 90th percentiles on PostgreSQL without sorting all of its values.

``percentile_cont`` sorts every value of every slice, and with a total row (``ROLLUP``) first
sorts all the rows by slice: at a year of a million tickets that was most of a report's second.
Yet the ranks it reads are known before any value is: ``floor`` and ``ceil`` of
``fraction * (n - 1)`` among a slice's ``n`` values. So two statements:

1. **Counts**: one hash aggregate over the facts gives, per slice and *bucket*, the count, the
   values, the hits and the sum of the values. A value's bucket is how many of the ``EDGES`` lie
   at or below it (``buckets.py``, stored with each fact: plain comparisons, so a larger value
   never gets a smaller bucket). A slice's figures and the total row's are sums of those few thousand rows, and the
   running count over a slice's buckets tells which bucket holds each wanted rank.
2. **Values**: only the facts in those buckets, sorted per slice and bucket (``array_agg``
   ordered): a few percent of the values, found through an index on (kind, bucket, at).

The value at a rank is then read from its bucket and interpolated exactly as ``percentile_cont``
does (``definitions.percentile_at``), so the medians and 90th percentiles equal
``repository.aggregate_sorted``'s. Neither statement sorts every fact, both are plain scans and
hash aggregates (PostgreSQL may run them in parallel). Each statement reads its own snapshot, so
both also return each wanted bucket's count and a sum of its values' hashes: when a fact landed
in such a bucket between them, the two run again. ADR 35.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, BigInteger, ColumnElement, DateTime, Select, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from opora.analytics.definitions import (
    PERIODS,
    Dimension,
    Filters,
    bucket_end,
    bucket_start,
    local_to_utc,
    percentile_at,
)
from opora.analytics.repository import Aggregate, aggregate_sorted, narrowed, report_key

FRACTIONS = (0.5, 0.9)
# Tries of the two statements while facts change under them, before the one sorting statement.
ATTEMPTS = 3


@dataclass
class _Group:
    """One slice (or the total row) as the counts give it."""

    n: int = 0
    hits: int = 0
    sums: list[float] = field(default_factory=list)
    # Values (not null) per bucket.
    buckets: dict[int, int] = field(default_factory=dict)

    @property
    def values(self) -> int:
        return sum(self.buckets.values())

    def _ladder(self) -> tuple[list[int], list[int]]:
        """The non-empty buckets in order, and the rank of each one's first value."""
        order = sorted(self.buckets)
        starts = [0, *itertools.accumulate(self.buckets[b] for b in order)][:-1] if order else []
        return order, starts

    def wanted(self) -> set[int]:
        """The buckets holding the ranks percentile_cont reads."""
        count = self.values
        if not count:
            return set()
        order, starts = self._ladder()
        found = set()
        for fraction in FRACTIONS:
            position = (count - 1) * fraction
            for rank in (math.floor(position), math.ceil(position)):
                found.add(order[bisect.bisect_right(starts, rank) - 1])
        return found

    def at(self, sorted_values: Mapping[int, Sequence[float]]) -> Callable[[int], float]:
        """A function giving the value at a rank, from the sorted values of the wanted buckets."""
        order, starts = self._ladder()

        def read(rank: int) -> float:
            i = bisect.bisect_right(starts, rank) - 1
            return float(sorted_values[order[i]][rank - starts[i]])

        return read


def _periods(
    dimension: Dimension, span: tuple[datetime, datetime], zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """(naive local start, UTC instant it begins) of each local period that meets the span."""
    found: list[tuple[datetime, datetime]] = []
    local = bucket_start(span[0], dimension, zone)
    while True:
        begins = local_to_utc(local, zone)
        if begins >= span[1]:
            return found
        # A local start skipped by a clock change (02:00 on a spring-forward night) begins at the
        # same instant as the next one; date_trunc never yields it, so neither do we.
        if found and found[-1][1] == begins:
            found.pop()
        found.append((local, begins))
        local = bucket_end(local, dimension)


def _period_key(f: Subquery, periods: list[tuple[datetime, datetime]]) -> ColumnElement[Any]:
    """The period of a fact as the number of period starts at or before its instant (1 for the
    first). Equal to ``date_trunc(unit, timezone(zone, at))`` for every instant in the span, at a
    fraction of its cost: PostgreSQL resolves the zone's name and the unit's text on every row,
    which at a year of facts cost about as much as the rest of the statement."""
    starts = literal([utc for _, utc in periods], ARRAY(DateTime(timezone=True)))
    return func.width_bucket(f.c.at, starts)


async def aggregate_pg(
    session: AsyncSession,
    f: Subquery,
    dimension: Dimension,
    filters: Filters,
    timezone: str,
    *,
    span: tuple[datetime, datetime] | None = None,
    with_total: bool = False,
) -> list[Aggregate]:
    """Per slice (and with ``with_total`` for all slices together): count, hits, average and the
    exact ``percentile_cont`` median and 90th percentile of the value. ``span``, when given, holds
    every fact's instant; periods are then found by their starts instead of ``date_trunc``."""
    periods = _periods(dimension, span, ZoneInfo(timezone)) if dimension in PERIODS and span else []
    key = _period_key(f, periods) if periods else report_key(f, dimension, timezone)
    # Stored with the fact (ADR 39): read, not computed per row, and the second statement finds
    # the wanted buckets' facts through their index instead of reading the span again.
    bucket = f.c.bucket
    where = narrowed(f, filters)
    # An order-free fingerprint of a bucket's values: the sum of their hashes.
    mark = func.sum(cast(func.hashfloat8(f.c.value), BigInteger))
    counts = (
        select(
            key,
            bucket,
            func.count(),
            func.count(f.c.value),
            func.coalesce(func.sum(f.c.ok), 0),
            func.sum(f.c.value),
            mark,
        )
        .where(*where)
        .group_by(key, bucket)
    )
    try:
        for _ in range(ATTEMPTS):
            found = await _two_passes(
                session, counts, key, bucket, f.c.value, mark, where, periods, with_total=with_total
            )
            if found is not None:
                return found
    except _Unbucketed:
        pass
    # Facts kept changing under the report, or some have a value but no bucket: one sorting
    # statement sees one snapshot and needs no bucket.
    return await aggregate_sorted(session, f, dimension, filters, timezone, with_total=with_total)


class _Unbucketed(Exception):
    """Facts with a value but no stored bucket (written around ``facts.refresh``, or not yet
    backfilled): the buckets cannot place them among the others."""


async def _two_passes(
    session: AsyncSession,
    counts: Select[Any],
    key: ColumnElement[Any],
    bucket: ColumnElement[Any],
    value: ColumnElement[Any],
    mark: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    periods: list[tuple[datetime, datetime]],
    *,
    with_total: bool,
) -> list[Aggregate] | None:
    """The report, or None when the wanted buckets changed between the two statements (each
    reads its own snapshot under READ COMMITTED, and a report's transaction has already read)."""
    slices: dict[Any, _Group] = defaultdict(_Group)
    total = _Group()
    marks: dict[tuple[Any, int], tuple[int, int]] = {}
    for k, b, n, nv, hits, s, m in await session.execute(counts):
        if nv and b is None:
            raise _Unbucketed
        for group in (slices[k], total):
            group.n += n
            group.hits += int(hits)
            if nv:
                group.sums.append(float(s))
                group.buckets[b] = group.buckets.get(b, 0) + nv
        if nv:
            marks[(k, b)] = (nv, int(m))

    wanted = set().union(*(g.wanted() for g in slices.values()))
    if with_total:
        wanted |= total.wanted()
    sorted_values: dict[Any, dict[int, Sequence[float]]] = defaultdict(dict)
    seen: dict[tuple[Any, int], tuple[int, int]] = {}
    if wanted:
        values = (
            select(key, bucket, func.array_agg(aggregate_order_by(value, value.asc())), mark)
            .where(*where, bucket.in_(sorted(wanted)))
            .group_by(key, bucket)
        )
        for k, b, found, m in await session.execute(values):
            sorted_values[k][b] = found
            seen[(k, b)] = (len(found), int(m))
    # The same values in every wanted bucket of every slice: then the answer is exactly that
    # of the first statement's snapshot, whatever changed elsewhere meanwhile.
    if seen != {kb: figures for kb, figures in marks.items() if kb[1] in wanted}:
        return None
    merged: dict[int, list[float]] = defaultdict(list)
    if with_total:
        # The total row's bucket holds every slice's values in it: merged, in order.
        for per_slice in sorted_values.values():
            for b, found in per_slice.items():
                merged[b].extend(found)
        for found in merged.values():
            found.sort()

    result = [
        _aggregate(_local(k, periods) if periods else k, g, sorted_values[k], is_total=False)
        for k, g in slices.items()
    ]
    if with_total:
        # Over no facts at all, a total row of nothing, as ROLLUP gives.
        result.append(_aggregate(None, total, merged, is_total=True))
    return result


def _aggregate(
    key: Any, g: _Group, sorted_values: Mapping[int, Sequence[float]], *, is_total: bool
) -> Aggregate:
    count = g.values
    read = g.at(sorted_values)
    return Aggregate(
        key,
        g.n,
        g.hits,
        # As avg(): the sum of the values over their count (the partial sums added exactly).
        math.fsum(g.sums) / count if count else None,
        percentile_at(count, 0.5, read),
        percentile_at(count, 0.9, read),
        is_total,
    )


def _local(index: int, periods: list[tuple[datetime, datetime]]) -> datetime:
    if not 1 <= index <= len(periods):
        raise ValueError(f"a fact outside the report's span (period {index} of {len(periods)})")
    return periods[index - 1][0]
