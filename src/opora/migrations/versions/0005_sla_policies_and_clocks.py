"""sla policies and clocks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OPEN = sa.text("fulfilled_at IS NULL")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("conditions", _json(), nullable=False),
        sa.Column("targets", _json(), nullable=False),
        sa.Column("warning_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_policies_name")),
    )
    op.create_index("ix_sla_policies_position", "sla_policies", ["position", "id"], unique=False)
    op.create_table(
        "calendar_overrides",
        sa.Column("calendar_id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hours", _json(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_overrides_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("calendar_id", "day", name=op.f("pk_calendar_overrides")),
    )
    op.create_table(
        "ticket_sla",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("policy_id", _ID, nullable=True),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("business", sa.Boolean(), nullable=False),
        sa.Column("calendar_id", _ID, nullable=True),
        sa.Column("warning_percent", sa.Integer(), nullable=False),
        sa.Column("started_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("running_since", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("warned_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_ticket_sla_calendar_id_calendars"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_ticket_sla_policy_id_sla_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_sla_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_sla")),
        sa.UniqueConstraint("ticket_id", "metric", name=op.f("uq_ticket_sla_ticket_id_metric")),
    )
    op.create_index(
        "ix_ticket_sla_open_due",
        "ticket_sla",
        ["due_at", "ticket_id"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "sla_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("default_calendar_id", _ID, nullable=True),
        sa.Column("autoack_enabled", sa.Boolean(), nullable=False),
        sa.Column("autoack_templates", _json(), nullable=False),
        sa.Column("out_of_hours_templates", _json(), nullable=False),
        sa.Column("updated_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["default_calendar_id"],
            ["calendars.id"],
            name=op.f("fk_sla_settings_default_calendar_id_calendars"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_settings")),
    )


def downgrade() -> None:
    op.drop_table("sla_settings")
    op.drop_index(
        "ix_ticket_sla_open_due", table_name="ticket_sla", sqlite_where=_OPEN, postgresql_where=_OPEN
    )
    op.drop_table("ticket_sla")
    op.drop_table("calendar_overrides")
    op.drop_index("ix_sla_policies_position", table_name="sla_policies")
    op.drop_table("sla_policies")
