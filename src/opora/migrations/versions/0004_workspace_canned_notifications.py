"""workspace canned notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("shortcut", sa.String(length=50), nullable=True),
        sa.Column("language", sa.String(length=3), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner_id", _ID, nullable=True),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column("sort_key", sa.String(length=200), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("tag_index", sa.Text(), nullable=False),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["agents.id"], name=op.f("fk_canned_responses_owner_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["agents.id"],
            name=op.f("fk_canned_responses_created_by_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
    )
    with op.batch_alter_table("canned_responses") as batch_op:
        batch_op.create_index("ix_canned_responses_owner_sort", ["owner_id", "sort_key", "id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("snippet", sa.String(length=200), nullable=False),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_notifications_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_notifications_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_notifications_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["agents.id"], name=op.f("fk_notifications_actor_id_agents"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.create_index("ix_notifications_agent", ["agent_id", "id"], unique=False)
        batch_op.create_index("ix_notifications_agent_unread", ["agent_id", "read_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_agent_unread")
        batch_op.drop_index("ix_notifications_agent")
    op.drop_table("notifications")
    with op.batch_alter_table("canned_responses") as batch_op:
        batch_op.drop_index("ix_canned_responses_owner_sort")
    op.drop_table("canned_responses")
