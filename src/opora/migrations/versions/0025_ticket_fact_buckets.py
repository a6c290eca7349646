"""ticket fact buckets: each fact's value bucket stored, and an index by kind and bucket

Long duration reports count their facts per value bucket, then read only the buckets holding the
wanted ranks (ADR 35). The bucket is now a column written with the fact (ADR 39): the counting
pass reads it instead of computing ``width_bucket`` per row, and the second pass reads only the
wanted buckets through ``ix_ticket_facts_kind_bucket`` instead of the whole span again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 07:00:00
"""

import bisect
import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ladder of analytics/buckets.py when this revision was written, rebuilt here so that the
# backfill stays what it was if the code's ladder changes (which then needs its own migration);
# a test holds the two equal.
_RATIO = 1.02
_TOP = 3.2e8


def _ladder() -> tuple[float, ...]:
    edges = [0.0, 1.0]
    while edges[-1] < _TOP:
        edges.append(edges[-1] * _RATIO)
    return tuple(edges)


EDGES = _ladder()
_REPORTED = [
    "value",
    "bucket",
    "ok",
    "until",
    "first_contact",
    "team_id",
    "assignee_id",
    "channel_type",
    "topic",
    "priority",
    "customer_id",
]
_PREVIOUSLY = [name for name in _REPORTED if name != "bucket"]
_BUCKET_INCLUDE = [
    "value",
    "until",
    "team_id",
    "assignee_id",
    "channel_type",
    "topic",
    "priority",
    "customer_id",
]
_BUCKETED = sa.text("bucket IS NOT NULL")
# Rows per statement of SQLite's backfill.
_BATCH = 5000


def _bucket(value: float) -> int:
    # width_bucket(value, EDGES): NaN sorts above every double in PostgreSQL.
    return len(EDGES) if math.isnan(value) else bisect.bisect_right(EDGES, value)


def upgrade() -> None:
    # The covering index goes first and comes back with the bucket: the backfill below then
    # updates one index less, and the index is built once over the final rows.
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index("ix_ticket_facts_kind_at")
        batch_op.add_column(sa.Column("bucket", sa.SmallInteger(), nullable=True))
    _backfill()
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.create_index(
            "ix_ticket_facts_kind_at", ["kind", "at"], unique=False, postgresql_include=_REPORTED
        )
        batch_op.create_index(
            "ix_ticket_facts_kind_bucket",
            ["kind", "bucket", "at"],
            unique=False,
            postgresql_include=_BUCKET_INCLUDE,
            postgresql_where=_BUCKETED,
            sqlite_where=_BUCKETED,
        )


def _backfill() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # A change of type with USING rewrites the table once, each row with its bucket, where an
        # UPDATE would leave a dead copy of every fact with a value (about twice the table) for
        # VACUUM. width_bucket of a null value is null.
        ladder = "'{" + ",".join(repr(e) for e in EDGES) + "}'::float8[]"
        bind.execute(
            sa.text(
                "ALTER TABLE ticket_facts ALTER COLUMN bucket TYPE smallint "
                f"USING width_bucket(value, {ladder})"
            )
        )
        return
    # SQLite has no width_bucket: the same count of edges at or below the value, in Python.
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, value FROM ticket_facts WHERE id > :after AND value IS NOT NULL "
                "ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text("UPDATE ticket_facts SET bucket = :bucket WHERE id = :id"),
            [{"id": row[0], "bucket": _bucket(float(row[1]))} for row in rows],
        )
        after = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index("ix_ticket_facts_kind_bucket", postgresql_where=_BUCKETED, sqlite_where=_BUCKETED)
        batch_op.drop_index("ix_ticket_facts_kind_at")
        batch_op.drop_column("bucket")
        batch_op.create_index(
            "ix_ticket_facts_kind_at", ["kind", "at"], unique=False, postgresql_include=_PREVIOUSLY
        )
