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
# SQLite's FTS5 index over the docs is created by the application on first use (see
# opora.kb.search.repository); dropping the old one here makes it come back with the scope column.
_SQLITE_FTS = ("DROP TRIGGER IF EXISTS kb_fts_ai", "DROP TRIGGER IF EXISTS kb_fts_ad", "DROP TRIGGER IF EXISTS kb_fts_au")


def upgrade() -> None:
    with op.batch_alter_table("kb_search_docs") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), server_default="", nullable=False))
        batch_op.add_column(sa.Column("status", sa.String(length=10), server_default="", nullable=False))
        batch_op.add_column(sa.Column("internal", sa.Boolean(), server_default=sa.false(), nullable=False))
    for name in _COPIED:
        op.execute(
            f"UPDATE kb_search_docs SET {name} = "
            f"(SELECT kb_articles.{name} FROM kb_articles WHERE kb_articles.id = kb_search_docs.article_id)"
        )
    if op.get_bind().dialect.name == "sqlite":
        for statement in (*_SQLITE_FTS, "DROP TABLE IF EXISTS kb_fts", "DROP VIEW IF EXISTS kb_fts_source"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in (*_SQLITE_FTS, "DROP TABLE IF EXISTS kb_fts", "DROP VIEW IF EXISTS kb_fts_source"):
            op.execute(statement)
    with op.batch_alter_table("kb_search_docs") as batch_op:
        for name in reversed(_COPIED):
            batch_op.drop_column(name)
