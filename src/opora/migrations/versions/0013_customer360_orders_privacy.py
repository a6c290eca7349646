"""customer 360, shop orders, personal-data bookkeeping

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("orders_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("total_spent_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("spend_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(_at("last_order_at", nullable=True))
        batch_op.add_column(_at("erased_at", nullable=True))

    op.create_table(
        "customer_tags",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        _fk("customer_tags", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "tag", name=op.f("pk_customer_tags")),
    )
    op.create_index("ix_customer_tags_tag", "customer_tags", ["tag", "customer_id"])
    op.create_table(
        "customer_notes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("author_agent_id", _ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _at("created_at"),
        _fk("customer_notes", "customer_id", "customers", "CASCADE"),
        _fk("customer_notes", "author_agent_id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    op.create_index("ix_customer_notes_customer_id", "customer_notes", ["customer_id"])
    op.create_table(
        "customer_merges",
        sa.Column("id", _ID, nullable=False),
        sa.Column("survivor_id", _ID, nullable=False),
        sa.Column("merged_id", _ID, nullable=False),
        sa.Column("moved", _JSON, nullable=False),
        sa.Column("absorbed", _JSON, nullable=False),
        sa.Column("actor_type", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        _at("created_at"),
        _at("undone_at", nullable=True),
        _fk("customer_merges", "survivor_id", "customers", "CASCADE"),
        _fk("customer_merges", "merged_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    op.create_index("ix_customer_merges_survivor_id", "customer_merges", ["survivor_id"])
    op.create_index("ix_customer_merges_merged_id", "customer_merges", ["merged_id"])
    op.create_table(
        "customer_merge_dismissals",
        sa.Column("low_id", _ID, nullable=False),
        sa.Column("high_id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=True),
        _at("created_at"),
        _fk("customer_merge_dismissals", "low_id", "customers", "CASCADE"),
        _fk("customer_merge_dismissals", "high_id", "customers", "CASCADE"),
        _fk("customer_merge_dismissals", "agent_id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("low_id", "high_id", name=op.f("pk_customer_merge_dismissals")),
    )

    op.create_table(
        "shops",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_shops_key_hash")),
    )
    op.create_table(
        "orders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_label", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("items", _JSON, nullable=False),
        sa.Column("delivery_method", sa.String(length=200), nullable=False),
        sa.Column("tracking_number", sa.String(length=100), nullable=False),
        sa.Column("tracking_url", sa.String(length=500), nullable=False),
        _at("placed_at"),
        _at("source_updated_at"),
        _at("created_at"),
        _at("updated_at"),
        _fk("orders", "shop_id", "shops", "CASCADE"),
        _fk("orders", "customer_id", "customers", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("shop_id", "external_id", name=op.f("uq_orders_shop_id_external_id")),
    )
    op.create_index("ix_orders_number", "orders", ["number"])
    op.create_index("ix_orders_customer_placed", "orders", ["customer_id", "placed_at"])

    op.create_table(
        "customer_access_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=20), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_access_log")),
    )
    op.create_index("ix_customer_access_log_customer", "customer_access_log", ["customer_id", "created_at"])
    op.create_table(
        "customer_erasures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("files_deleted", sa.Integer(), nullable=False),
        _at("created_at"),
        _fk("customer_erasures", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_erasures")),
    )
    op.create_index("ix_customer_erasures_customer_id", "customer_erasures", ["customer_id"])
    op.create_table(
        "privacy_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("closed_ticket_months", sa.Integer(), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention")),
    )
    op.create_table(
        "ticket_redactions",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        _at("created_at"),
        _fk("ticket_redactions", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_redactions")),
    )


def downgrade() -> None:
    for table in (
        "ticket_redactions",
        "privacy_retention",
        "customer_erasures",
        "customer_access_log",
        "orders",
        "shops",
        "customer_merge_dismissals",
        "customer_merges",
        "customer_notes",
        "customer_tags",
    ):
        op.drop_table(table)
    with op.batch_alter_table("customers") as batch_op:
        for column in (
            "erased_at",
            "last_order_at",
            "spend_currency",
            "total_spent_minor",
            "orders_count",
            "timezone",
        ):
            batch_op.drop_column(column)
