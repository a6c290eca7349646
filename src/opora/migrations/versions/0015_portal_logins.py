"""portal logins

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opora.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "portal_logins",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        _at("link_expires_at"),
        _at("used_at", nullable=True),
        sa.Column("session_hash", sa.String(length=64), nullable=True),
        _at("session_expires_at", nullable=True),
        _at("ended_at", nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_portal_logins_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_logins")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_portal_logins_session_hash")),
    )
    with op.batch_alter_table("portal_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_logins_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_portal_logins_email_created", ["email", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_logins", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_logins_email_created")
        batch_op.drop_index(batch_op.f("ix_portal_logins_customer_id"))
    op.drop_table("portal_logins")
