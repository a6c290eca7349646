"""kb search docs carry who may see them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPIED = ("language", "status", "internal")


def upgrade() -> None:
    with op.batch_alter_table("kb_search_docs") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), server_default="", nullable=False))
        batch_op.add_column(sa.Column("status", sa.String(length=10), server_default="", nullable=False))
        batch_op.add_column(sa.Column("internal", sa.Boolean(), server_default=sa.false(), nullable=False))
    docs = sa.table("kb_search_docs", sa.column("article_id"), *(sa.column(name) for name in _COPIED))
    articles = sa.table("kb_articles", sa.column("id"), *(sa.column(name) for name in _COPIED))
    op.execute(
        docs.update().values(
            {
                name: sa.select(articles.c[name]).where(articles.c.id == docs.c.article_id).scalar_subquery()
                for name in _COPIED
            }
        )
    )
    op.create_index(
        "ix_kb_search_docs_scope", "kb_search_docs", ["article_id", "status", "internal", "language"]
    )


def downgrade() -> None:
    op.drop_index("ix_kb_search_docs_scope", table_name="kb_search_docs")
    with op.batch_alter_table("kb_search_docs") as batch_op:
        for name in reversed(_COPIED):
            batch_op.drop_column(name)
