"""ticket facts

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db
from opora.kit.time import utcnow

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


_OPEN = sa.text("status IN ('new', 'open', 'pending', 'on_hold')")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ticket_facts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        _at("at"),
        _at("until", True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("ok", sa.SmallInteger(), nullable=False),
        sa.Column("first_contact", sa.SmallInteger(), nullable=True),
        sa.Column("team_id", _ID, nullable=True),
        sa.Column("assignee_id", _ID, nullable=True),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("channel_type", sa.String(length=30), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_facts_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_ticket_facts_team_id_teams"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["agents.id"],
            name=op.f("fk_ticket_facts_assignee_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_facts")),
    )
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.create_index("ix_ticket_facts_kind_at", ["kind", "at"], unique=False)
        batch_op.create_index("ix_ticket_facts_ticket", ["ticket_id"], unique=False)
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.create_index(
            "ix_tickets_open_queue",
            ["team_id", "assignee_id", "status", "merged_into_id"],
            unique=False,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )

    # A desk with tickets gets its facts from the backfill job (analytics/tasks.py), batch by batch.
    if op.get_bind().execute(sa.text("SELECT 1 FROM tickets LIMIT 1")).first() is not None:
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
                task="analytics.backfill_facts",
                payload={"after": 0, "size": 1000},
                state="queued",
                unique_key="analytics.backfill_facts:0",
                attempts=0,
                max_attempts=10,
                run_at=now,
                created_at=now,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_open_queue", sqlite_where=_OPEN, postgresql_where=_OPEN)
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index("ix_ticket_facts_ticket")
        batch_op.drop_index("ix_ticket_facts_kind_at")
    op.drop_table("ticket_facts")
