"""webchat widget

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opora.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webchat_visitors",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("signed_as", sa.String(length=320), nullable=True),
        sa.Column("last_external_id", sa.String(length=500), nullable=True),
        sa.Column("wants_human", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_webchat_visitors_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_visitors")),
        sa.UniqueConstraint("key", name=op.f("uq_webchat_visitors_key")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_webchat_visitors_token_hash")),
    )
    with op.batch_alter_table("webchat_visitors") as batch_op:
        batch_op.create_index("ix_webchat_visitors_channel_id", ["channel_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webchat_visitors") as batch_op:
        batch_op.drop_index("ix_webchat_visitors_channel_id")
    op.drop_table("webchat_visitors")
