"""webchat replies copied by e-mail

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opora.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TABLE = "webchat_email_copies"


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{_TABLE}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("email_channel_id", _ID, nullable=True),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("mail_id", sa.String(length=500), nullable=True),
        sa.Column("created_at", opora.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", opora.db.UTCDateTime(timezone=True), nullable=True),
        _fk("message_id", "messages", "CASCADE"),
        _fk("ticket_id", "tickets", "CASCADE"),
        _fk("email_channel_id", "channels", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{_TABLE}")),
        sa.UniqueConstraint("message_id", name=op.f(f"uq_{_TABLE}_message_id")),
    )
    with op.batch_alter_table(_TABLE) as batch_op:
        batch_op.create_index(f"ix_{_TABLE}_ticket_id", ["ticket_id"], unique=False)
        batch_op.create_index(f"ix_{_TABLE}_mail", ["email_channel_id", "mail_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(_TABLE) as batch_op:
        batch_op.drop_index(f"ix_{_TABLE}_mail")
        batch_op.drop_index(f"ix_{_TABLE}_ticket_id")
    op.drop_table(_TABLE)
