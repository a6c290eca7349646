"""agent assistance: similar solved tickets index, communication style settings

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "assist_solved_docs",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("reply_message_id", _ID, nullable=False),
        sa.Column("terms", sa.Integer(), nullable=False),
        _at("indexed_at"),
        _fk("assist_solved_docs", "ticket_id", "tickets", "CASCADE"),
        _fk("assist_solved_docs", "reply_message_id", "messages", "CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_assist_solved_docs")),
    )
    op.create_table(
        "assist_solved_terms",
        sa.Column("stem", sa.String(length=60), nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        _fk("assist_solved_terms", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("stem", "ticket_id", name=op.f("pk_assist_solved_terms")),
    )
    with op.batch_alter_table("assist_solved_terms") as batch_op:
        batch_op.create_index("ix_assist_solved_terms_ticket", ["ticket_id"], unique=False)
    op.create_table(
        "assist_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discouraged_phrases", _JSON, nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_settings")),
    )


def downgrade() -> None:
    op.drop_table("assist_settings")
    op.drop_table("assist_solved_terms")
    op.drop_table("assist_solved_docs")
