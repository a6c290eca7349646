"""bot conversations and per-channel bot settings

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0016"
down_revision: str | None = "0015"
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
    op.create_table(
        "bot_channels",
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("languages", _JSON, nullable=False),
        _at("updated_at"),
        _fk("bot_channels", "channel_id", "channels", "CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_bot_channels")),
    )
    op.create_table(
        "bot_conversations",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("step", sa.String(length=14), nullable=False),
        sa.Column("rephrased", sa.Boolean(), nullable=False),
        sa.Column("intent", sa.String(length=60), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("last_message_id", _ID, nullable=True),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("ended_at", True),
        _fk("bot_conversations", "ticket_id", "tickets", "CASCADE"),
        _fk("bot_conversations", "channel_id", "channels", "SET NULL"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_bot_conversations")),
    )


def downgrade() -> None:
    op.drop_table("bot_conversations")
    op.drop_table("bot_channels")
