"""index messages by customer and time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.create_index(
            "ix_messages_customer_created", ["author_customer_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_customer_created")
