"""routing policies skills capacity

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "routing_team_settings",
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("line", sa.String(length=10), nullable=False),
        sa.Column("escalation_team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("skill_fallback_seconds", sa.Integer(), nullable=False),
        sa.Column("channel_weights", _json(), nullable=False),
        sa.Column("last_assigned_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_routing_team_settings_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["escalation_team_id"],
            ["teams.id"],
            name=op.f("fk_routing_team_settings_escalation_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_assigned_id"],
            ["agents.id"],
            name=op.f("fk_routing_team_settings_last_assigned_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_routing_team_settings")),
    )
    op.create_table(
        "routing_agent_settings",
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("capacity", _json(), nullable=False),
        sa.Column("default_capacity", sa.Integer(), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_routing_agent_settings_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_routing_agent_settings")),
    )
    op.create_table(
        "routing_presence_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("old", sa.String(length=10), nullable=False),
        sa.Column("new", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_routing_presence_changes_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_presence_changes")),
    )
    with op.batch_alter_table("routing_presence_changes") as batch_op:
        batch_op.create_index("ix_routing_presence_changes_agent", ["agent_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("routing_presence_changes") as batch_op:
        batch_op.drop_index("ix_routing_presence_changes_agent")
    op.drop_table("routing_presence_changes")
    op.drop_table("routing_agent_settings")
    op.drop_table("routing_team_settings")
