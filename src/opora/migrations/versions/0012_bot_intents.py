"""bot intents, examples, model versions, settings

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bot_intents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("kb_article_id", _ID, nullable=True),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["kb_article_id"],
            ["kb_articles.id"],
            name=op.f("fk_bot_intents_kb_article_id_kb_articles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_intents")),
        sa.UniqueConstraint("language", "key", name=op.f("uq_bot_intents_language_key")),
    )
    op.create_table(
        "bot_examples",
        sa.Column("id", _ID, nullable=False),
        sa.Column("intent_id", _ID, nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["bot_intents.id"],
            name=op.f("fk_bot_examples_intent_id_bot_intents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_examples")),
    )
    with op.batch_alter_table("bot_examples") as batch_op:
        batch_op.create_index("ix_bot_examples_intent", ["intent_id", "id"], unique=False)
    op.create_table(
        "bot_models",
        sa.Column("id", _ID, nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("encoder", sa.String(length=50), nullable=False),
        sa.Column("max_wrong_rate", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("metrics", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("weights", sa.LargeBinary(), nullable=True),
        _at("created_at"),
        _at("trained_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_models")),
    )
    with op.batch_alter_table("bot_models") as batch_op:
        batch_op.create_index("ix_bot_models_language_status", ["language", "status", "id"], unique=False)
    op.create_table(
        "bot_settings",
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("max_wrong_rate", sa.Float(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("language", name=op.f("pk_bot_settings")),
    )


def downgrade() -> None:
    op.drop_table("bot_settings")
    with op.batch_alter_table("bot_models") as batch_op:
        batch_op.drop_index("ix_bot_models_language_status")
    op.drop_table("bot_models")
    with op.batch_alter_table("bot_examples") as batch_op:
        batch_op.drop_index("ix_bot_examples_intent")
    op.drop_table("bot_examples")
    op.drop_table("bot_intents")
