"""The value buckets of duration facts: a fact's place on a fixed ladder of seconds.

``percentiles.py`` finds a report's exact medians and 90th percentiles by counting facts per
bucket first, then reading only the buckets that hold the wanted ranks (ADR 35). The bucket is
stored on each fact (``ticket_facts.bucket``, ADR 39) where the fact is written, so that the
counting pass reads it instead of computing it per row, and the second pass reads only the
wanted buckets' rows through an index instead of the whole span.

Exactness needs only that a larger value never has a smaller bucket, for every stored fact at
once: the ladder itself only decides the speed. Changing ``RATIO`` or ``TOP`` therefore needs a
migration that recomputes every stored bucket, as 0025 computed them first.
"""

from __future__ import annotations

import bisect
import math

from sqlalchemy import TextClause, text

# Bucket edges in seconds: 0, then a geometric ladder from 1 s rising 2 % a step to beyond ten
# years (about 1,000 edges). A bucket then holds values within 2 % of each other, a small share
# of a report's values wherever its median lies, and a slice has at most a few hundred
# non-empty buckets. Negative values fall below the first edge (bucket 0), larger ones above
# the last: still in order, so still exact.
RATIO = 1.02
TOP = 3.2e8


def ladder(ratio: float = RATIO, top: float = TOP) -> tuple[float, ...]:
    edges = [0.0, 1.0]
    while edges[-1] < top:
        edges.append(edges[-1] * ratio)
    return tuple(edges)


EDGES = ladder()


def bucket_of(value: float | None, edges: tuple[float, ...] = EDGES) -> int | None:
    """How many edges lie at or below ``value``: PostgreSQL's ``width_bucket(value, edges)``.

    NaN sorts above every double in PostgreSQL, so it takes the last bucket there; ``bisect``
    would put it anywhere (every comparison with NaN is false), hence the explicit case."""
    if value is None:
        return None
    if math.isnan(value):
        return len(edges)
    return bisect.bisect_right(edges, value)


def edges_sql(edges: tuple[float, ...] = EDGES) -> TextClause:
    """The ladder as a float8[] literal in a statement's text, not a parameter: psycopg would dump
    the thousand doubles on every execution. repr() is the shortest text that reads back as the
    same double."""
    return text("'{" + ",".join(repr(e) for e in edges) + "}'::float8[]")


EDGES_SQL = edges_sql()
