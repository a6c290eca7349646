"""A report's exact medians and 90th percentiles on PostgreSQL without sorting all of its values.

``percentile_cont`` sorts every value of every slice, and with a total row (``ROLLUP``) first
sorts all the rows by slice: at a year of a million tickets that sorting was most of a report's
second. The ranks ``percentile_cont`` reads are known before any value is: ``floor`` and ``ceil``
of ``fraction * (n - 1)`` among a slice's ``n`` values. So one statement, in three steps:

1. The report's facts (slice key, value, ok) are read once and kept (a materialised CTE), each
   with its *bucket*: how many of the ``EDGES`` lie at or below the value (``width_bucket``,
   plain comparisons, so a larger value never gets a smaller bucket).
2. One hash aggregate counts the values per slice and bucket and per bucket over all slices, and
   gives each slice's count, hits and average, and the total row's (grouping sets; no sort).
3. Running counts over the buckets (a few thousand rows) tell which bucket holds each wanted rank;
   only the values in those buckets are read again, numbered in order within their slice and
   bucket, and those at the wanted ranks returned.

Python then interpolates between the two ranks exactly as ``percentile_cont`` does
(``definitions.percentile_at``), so the numbers equal ``aggregate_sorted``'s. ADR 35.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Float, Integer, and_, cast, func, literal, null, or_, select, text
from sqlalchemy import tuple_ as group_of
from sqlalchemy import union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from opora.analytics.definitions import Dimension, Filters, percentile_at
from opora.analytics.repository import Aggregate, narrowed, report_key

# Bucket edges in seconds: 0, then a geometric ladder from 1 s rising 2 % a step to beyond ten
# years (about 1,000 edges; width_bucket finds a value's place by binary search). A bucket then
# holds values within 2 % of each other, a small share of a report's values wherever its median
# lies, and a slice has at most a few hundred non-empty buckets. Negative values fall below the
# first edge (bucket 0), larger ones above the last: still in order, so still exact.
RATIO = 1.02
TOP = 3.2e8


def _edges() -> tuple[float, ...]:
    edges = [0.0, 1.0]
    while edges[-1] < TOP:
        edges.append(edges[-1] * RATIO)
    return tuple(edges)


EDGES = _edges()
FRACTIONS = (0.5, 0.9)

# grouping(key, b) of each grouping set: the key bit is the high one.
SLICE_BUCKET, SLICE, TOTAL_BUCKET, TOTAL = 0, 1, 2, 3


def _ranks(count: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """floor and ceil of fraction * (n - 1) for each fraction, in float8 as percentile_cont."""
    found: list[ColumnElement[Any]] = []
    for fraction in FRACTIONS:
        position = literal(fraction, Float) * cast(count - 1, Float)
        found += [func.floor(position), func.ceil(position)]
    return found


async def aggregate_pg(
    session: AsyncSession,
    f: Subquery,
    dimension: Dimension,
    filters: Filters,
    timezone: str,
    *,
    with_total: bool = False,
) -> list[Aggregate]:
    """Per slice (and with ``with_total`` for all slices together): count, hits, average and the
    exact ``percentile_cont`` median and 90th percentile of the value."""
    rows = (
        select(
            report_key(f, dimension, timezone).label("key"),
            f.c.value.label("value"),
            f.c.ok.label("ok"),
            func.width_bucket(f.c.value, literal(list(EDGES), ARRAY(Float))).label("b"),
        )
        .where(*narrowed(f, filters))
        .cte("report_rows")
        # Read twice (counts, then the wanted buckets): kept, not computed again.
        .prefix_with("MATERIALIZED")
    )
    sets = [group_of(rows.c.key, rows.c.b), group_of(rows.c.key)]
    if with_total:
        sets += [group_of(rows.c.b), text("()")]
    counts = (
        select(
            rows.c.key,
            rows.c.b,
            func.grouping(rows.c.key, rows.c.b).label("g"),
            func.count().label("n"),
            func.count(rows.c.value).label("nv"),
            func.coalesce(func.sum(rows.c.ok), 0).label("hits"),
            func.avg(rows.c.value).label("average"),
        )
        .group_by(func.grouping_sets(*sets))
        .cte("report_counts")
    )
    # Running counts of the non-empty buckets of each slice (and of the total row).
    part = [counts.c.g, counts.c.key]
    running = (
        select(
            counts.c.key,
            counts.c.b,
            counts.c.g,
            (func.sum(counts.c.nv).over(partition_by=part, order_by=counts.c.b) - counts.c.nv).label("before"),
            counts.c.nv,
            func.sum(counts.c.nv).over(partition_by=part).label("whole"),
        )
        .where(counts.c.g.in_((SLICE_BUCKET, TOTAL_BUCKET)), counts.c.b.is_not(None))
        .subquery("running")
    )
    ranks = [r.label(f"r{i}") for i, r in enumerate(_ranks(running.c.whole))]
    targets = (
        select(running.c.key, running.c.b, running.c.g, running.c.before, *ranks)
        .where(
            or_(*[and_(running.c.before <= r, r < running.c.before + running.c.nv) for r in _ranks(running.c.whole)])
        )
        .cte("report_targets")
    )
    wanted = select(rows).where(rows.c.b.in_(select(targets.c.b))).cte("report_wanted")

    def numbered(*on: ColumnElement[bool]) -> Any:
        order = func.row_number().over(
            partition_by=[targets.c.g, targets.c.key, targets.c.b], order_by=wanted.c.value
        )
        return select(
            targets.c.g,
            targets.c.key,
            (order - 1 + targets.c.before).label("rank"),
            wanted.c.value,
            *[targets.c[f"r{i}"] for i in range(len(ranks))],
        ).select_from(wanted.join(targets, and_(targets.c.b == wanted.c.b, *on)))

    branches = [
        numbered(targets.c.g == SLICE_BUCKET, targets.c.key == wanted.c.key),
        # Hash joins need equality; the slice without a key (no team, ...) joins on its own.
        numbered(targets.c.g == SLICE_BUCKET, targets.c.key.is_(None), wanted.c.key.is_(None)),
    ]
    if with_total:
        branches.append(numbered(targets.c.g == TOTAL_BUCKET))
    picked = union_all(*branches).subquery("picked")
    values = select(
        picked.c.g,
        picked.c.key,
        cast(null(), Integer).label("n"),
        cast(null(), Integer).label("nv"),
        cast(null(), Integer).label("hits"),
        cast(null(), Float).label("average"),
        picked.c.rank,
        picked.c.value,
    ).where(or_(*[picked.c.rank == picked.c[f"r{i}"] for i in range(len(ranks))]))
    groups = select(
        counts.c.g,
        counts.c.key,
        counts.c.n,
        counts.c.nv,
        counts.c.hits,
        counts.c.average,
        cast(null(), Integer).label("rank"),
        cast(null(), Float).label("value"),
    ).where(counts.c.g.in_((SLICE, TOTAL)))

    found: dict[tuple[bool, Any], Any] = {}
    at: dict[tuple[bool, Any], dict[int, float]] = defaultdict(dict)
    for row in await session.execute(union_all(groups, values)):
        # A slice's bucket row (g 0) and its group row (g 1) share the key; so do 2 and 3.
        slot = (row.g in (TOTAL_BUCKET, TOTAL), None if row.g in (TOTAL_BUCKET, TOTAL) else row.key)
        if row.rank is None:
            found[slot] = row
        else:
            at[slot][int(row.rank)] = float(row.value)
    result = []
    for (is_total, _), row in found.items():
        values_at = at[(is_total, None if is_total else row.key)]
        result.append(
            Aggregate(
                row.key,
                int(row.n),
                int(row.hits),
                None if row.average is None else float(row.average),
                percentile_at(int(row.nv), 0.5, values_at.__getitem__),
                percentile_at(int(row.nv), 0.9, values_at.__getitem__),
                is_total,
            )
        )
    return result
