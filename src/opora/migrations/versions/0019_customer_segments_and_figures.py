"""customer segment rules, the segment audit, tickets and CSAT figures on the customer

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("tickets_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("csat_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("csat_total", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("segment_source", sa.String(length=10), nullable=True))
    # Segments set before rules existed were chosen by people: rules must never overwrite them.
    op.execute("UPDATE customers SET segment_source = 'manual' WHERE segment IS NOT NULL")
    op.execute(
        "UPDATE customers SET tickets_count = (SELECT count(*) FROM tickets "
        "WHERE tickets.customer_id = customers.id AND tickets.merged_into_id IS NULL)"
    )
    op.execute(
        "UPDATE customers SET "
        "csat_count = (SELECT count(rating) FROM csat_surveys WHERE csat_surveys.customer_id = customers.id), "
        "csat_total = (SELECT coalesce(sum(rating), 0) FROM csat_surveys "
        "WHERE csat_surveys.customer_id = customers.id)"
    )
    op.create_table(
        "customer_segment_rules",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conditions", _JSON, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_segment_rules")),
    )
    op.create_table(
        "customer_segment_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("old", sa.String(length=40), nullable=True),
        sa.Column("new", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("actor_type", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_segment_changes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_segment_changes")),
    )
    op.create_index("ix_customer_segment_changes_customer", "customer_segment_changes", ["customer_id", "id"])


def downgrade() -> None:
    op.drop_table("customer_segment_changes")
    op.drop_table("customer_segment_rules")
    with op.batch_alter_table("customers") as batch_op:
        for column in ("segment_source", "csat_total", "csat_count", "tickets_count"):
            batch_op.drop_column(column)
