"""ticket fact hours: per-hour sums of ticket_facts, and the indexes of the slow report reads

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db
from opora.kit.time import utcnow

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_OPEN = sa.text("status IN ('new', 'open', 'pending', 'on_hold')")
_SEGMENTED = sa.text("segment IS NOT NULL")
_SUPERSEDED = sa.text("until IS NOT NULL")
_BACKLOG_INCLUDE = [
    "team_id",
    "assignee_id",
    "channel_type",
    "topic",
    "priority",
    "merged_into_id",
    "customer_id",
    "status",
]


def upgrade() -> None:
    op.create_table(
        "ticket_fact_hours",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("dim", sa.String(length=10), nullable=False),
        sa.Column("hour", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("contact_n", sa.BigInteger(), nullable=False),
        sa.Column("contact_hits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "dim", "hour", "key", name=op.f("pk_ticket_fact_hours")),
    )
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.create_index(
            "ix_ticket_facts_superseded",
            ["kind", "until"],
            unique=False,
            sqlite_where=_SUPERSEDED,
            postgresql_where=_SUPERSEDED,
        )
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.create_index(
            "ix_tickets_open_backlog",
            ["created_at"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
            postgresql_include=_BACKLOG_INCLUDE,
        )
    with op.batch_alter_table("customers") as batch_op:
        batch_op.create_index(
            "ix_customers_segmented",
            ["id"],
            unique=False,
            sqlite_where=_SEGMENTED,
            postgresql_where=_SEGMENTED,
            postgresql_include=["segment"],
        )

    # A desk with facts gets their sums from one job (analytics/tasks.py) that rebuilds them all.
    if op.get_bind().execute(sa.text("SELECT 1 FROM ticket_facts LIMIT 1")).first() is not None:
        jobs = sa.table(
            "jobs",
            sa.column("task", sa.String()),
            sa.column("payload", _JSON),
            sa.column("state", sa.String()),
            sa.column("unique_key", sa.String()),
            sa.column("attempts", sa.Integer()),
            sa.column("max_attempts", sa.Integer()),
            sa.column("run_at", opora.db.UTCDateTime()),
            sa.column("created_at", opora.db.UTCDateTime()),
        )
        now = utcnow()
        op.get_bind().execute(
            jobs.insert().values(
                task="analytics.rebuild_fact_hours",
                payload={},
                state="queued",
                unique_key="analytics.rebuild_fact_hours:0022",
                attempts=0,
                max_attempts=10,
                run_at=now,
                created_at=now,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_index("ix_customers_segmented", sqlite_where=_SEGMENTED, postgresql_where=_SEGMENTED)
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_open_backlog", sqlite_where=_OPEN, postgresql_where=_OPEN)
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index(
            "ix_ticket_facts_superseded", sqlite_where=_SUPERSEDED, postgresql_where=_SUPERSEDED
        )
    op.drop_table("ticket_fact_hours")
