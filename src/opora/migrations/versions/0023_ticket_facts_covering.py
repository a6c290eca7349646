"""ticket facts covering index: the (kind, at) index carries what reports read, for index-only scans

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column a report's facts query names besides kind and at (ADR 35); SQLite ignores INCLUDE.
_REPORTED = [
    "value",
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


def upgrade() -> None:
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index("ix_ticket_facts_kind_at")
        batch_op.create_index(
            "ix_ticket_facts_kind_at", ["kind", "at"], unique=False, postgresql_include=_REPORTED
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_facts") as batch_op:
        batch_op.drop_index("ix_ticket_facts_kind_at")
        batch_op.create_index("ix_ticket_facts_kind_at", ["kind", "at"], unique=False)
