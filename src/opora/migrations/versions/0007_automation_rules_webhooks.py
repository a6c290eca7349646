"""automation rules webhooks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("events", _JSON, nullable=False),
        sa.Column("conditions", _JSON, nullable=False),
        sa.Column("actions", _JSON, nullable=False),
        sa.Column("created_by_id", _ID, nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["agents.id"],
            name=op.f("fk_automation_rules_created_by_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
    )
    with op.batch_alter_table("automation_rules") as batch_op:
        batch_op.create_index("ix_automation_rules_position", ["position", "id"], unique=False)

    op.create_table(
        "automation_rule_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("rule_id", _ID, nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("event_kind", sa.String(length=40), nullable=False),
        sa.Column("event_actor_type", sa.String(length=10), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("actions", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["automation_rules.id"],
            name=op.f("fk_automation_rule_runs_rule_id_automation_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_automation_rule_runs_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rule_runs")),
    )
    with op.batch_alter_table("automation_rule_runs") as batch_op:
        batch_op.create_index("ix_automation_rule_runs_rule", ["rule_id", "id"], unique=False)
        batch_op.create_index("ix_automation_rule_runs_ticket", ["ticket_id", "id"], unique=False)

    op.create_table(
        "automation_webhooks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_automation_webhooks_name")),
    )

    op.create_table(
        "automation_webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("webhook_id", _ID, nullable=False),
        sa.Column("rule_id", _ID, nullable=True),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("event_kind", sa.String(length=40), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["automation_webhooks.id"],
            name=op.f("fk_automation_webhook_deliveries_webhook_id_automation_webhooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["automation_rules.id"],
            name=op.f("fk_automation_webhook_deliveries_rule_id_automation_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_automation_webhook_deliveries_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook_deliveries")),
    )
    with op.batch_alter_table("automation_webhook_deliveries") as batch_op:
        batch_op.create_index("ix_automation_webhook_deliveries_webhook", ["webhook_id", "id"], unique=False)

    op.create_table(
        "automation_webhook_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("delivery_id", _ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["automation_webhook_deliveries.id"],
            name=op.f("fk_automation_webhook_attempts_delivery_id_automation_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook_attempts")),
    )
    with op.batch_alter_table("automation_webhook_attempts") as batch_op:
        batch_op.create_index("ix_automation_webhook_attempts_delivery", ["delivery_id", "id"], unique=False)

    op.create_table(
        "automation_outbound_allow",
        sa.Column("id", _ID, nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_outbound_allow")),
        sa.UniqueConstraint("network", name=op.f("uq_automation_outbound_allow_network")),
    )


def downgrade() -> None:
    op.drop_table("automation_outbound_allow")
    with op.batch_alter_table("automation_webhook_attempts") as batch_op:
        batch_op.drop_index("ix_automation_webhook_attempts_delivery")
    op.drop_table("automation_webhook_attempts")
    with op.batch_alter_table("automation_webhook_deliveries") as batch_op:
        batch_op.drop_index("ix_automation_webhook_deliveries_webhook")
    op.drop_table("automation_webhook_deliveries")
    op.drop_table("automation_webhooks")
    with op.batch_alter_table("automation_rule_runs") as batch_op:
        batch_op.drop_index("ix_automation_rule_runs_ticket")
        batch_op.drop_index("ix_automation_rule_runs_rule")
    op.drop_table("automation_rule_runs")
    with op.batch_alter_table("automation_rules") as batch_op:
        batch_op.drop_index("ix_automation_rules_position")
    op.drop_table("automation_rules")
