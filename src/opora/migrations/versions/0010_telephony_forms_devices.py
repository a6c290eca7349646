"""telephony forms devices

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def _channel_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["channel_id"], ["channels.id"], name=op.f(f"fk_{table}_channel_id_channels"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "webform_submissions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("submission_key", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        _at("created_at"),
        _channel_fk("webform_submissions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webform_submissions")),
        sa.UniqueConstraint("submission_key", name=op.f("uq_webform_submissions_submission_key")),
    )
    with op.batch_alter_table("webform_submissions") as batch_op:
        batch_op.create_index("ix_webform_submissions_ip", ["channel_id", "ip", "created_at"], unique=False)
        batch_op.create_index(
            "ix_webform_submissions_email", ["channel_id", "email", "created_at"], unique=False
        )

    op.create_table(
        "device_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("customer_kind", sa.String(length=20), nullable=False),
        sa.Column("customer_value", sa.String(length=320), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", _JSON, nullable=False),
        _at("occurred_at", nullable=True),
        _at("received_at"),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _channel_fk("device_events"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_device_events_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
        sa.UniqueConstraint("channel_id", "event_id", name=op.f("uq_device_events_channel_id_event_id")),
    )
    with op.batch_alter_table("device_events") as batch_op:
        batch_op.create_index("ix_device_events_device", ["channel_id", "device_id", "id"], unique=False)

    op.create_table(
        "device_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        _at("updated_at"),
        _channel_fk("device_alerts"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_device_alerts_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_alerts")),
        sa.UniqueConstraint(
            "channel_id", "device_id", "code", name=op.f("uq_device_alerts_channel_id_device_id_code")
        ),
    )


def downgrade() -> None:
    op.drop_table("device_alerts")
    with op.batch_alter_table("device_events") as batch_op:
        batch_op.drop_index("ix_device_events_device")
    op.drop_table("device_events")
    with op.batch_alter_table("webform_submissions") as batch_op:
        batch_op.drop_index("ix_webform_submissions_email")
        batch_op.drop_index("ix_webform_submissions_ip")
    op.drop_table("webform_submissions")
