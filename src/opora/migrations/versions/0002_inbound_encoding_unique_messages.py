"""inbound payload encoding; one message per channel and external id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAS_ID = sa.text("external_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("inbound_payloads") as batch_op:
        batch_op.add_column(
            sa.Column("encoding", sa.String(length=10), nullable=False, server_default="utf-8")
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_external")
        batch_op.create_index(
            "uq_messages_channel_external",
            ["channel_id", "external_id"],
            unique=True,
            sqlite_where=_HAS_ID,
            postgresql_where=_HAS_ID,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("uq_messages_channel_external")
        batch_op.create_index("ix_messages_external", ["channel_id", "external_id"], unique=False)
    with op.batch_alter_table("inbound_payloads") as batch_op:
        batch_op.drop_column("encoding")
