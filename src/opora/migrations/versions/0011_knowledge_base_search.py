"""knowledge base search

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def _agent_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["agents.id"], name=op.f(f"fk_{table}_{column}_agents"), ondelete="SET NULL"
    )


def _article_fk(table: str, column: str = "article_id", ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["kb_articles.id"], name=op.f(f"fk_{table}_{column}_kb_articles"), ondelete=ondelete
    )


def _taxon(name: str, *extra: sa.Column | sa.ForeignKeyConstraint) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("id", _ID, nullable=False),
        *extra,
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", _JSON, nullable=False),
        sa.Column("description", _JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("slug", name=op.f(f"uq_{name}_slug")),
    )


def upgrade() -> None:
    _taxon("kb_categories")
    _taxon(
        "kb_sections",
        sa.Column("category_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_sections_category_id_kb_categories"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("kb_sections") as batch_op:
        batch_op.create_index("ix_kb_sections_category_id", ["category_id"], unique=False)

    op.create_table(
        "kb_articles",
        sa.Column("id", _ID, nullable=False),
        sa.Column("section_id", _ID, nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("translation_key", sa.String(length=32), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("related_ids", _JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("helpful_count", sa.Integer(), nullable=False),
        sa.Column("not_helpful_count", sa.Integer(), nullable=False),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column("updated_by", _ID, nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("published_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["kb_sections.id"],
            name=op.f("fk_kb_articles_section_id_kb_sections"),
            ondelete="SET NULL",
        ),
        _agent_fk("kb_articles", "created_by"),
        _agent_fk("kb_articles", "updated_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("language", "slug", name=op.f("uq_kb_articles_language_slug")),
        sa.UniqueConstraint(
            "translation_key", "language", name=op.f("uq_kb_articles_translation_key_language")
        ),
    )
    with op.batch_alter_table("kb_articles") as batch_op:
        batch_op.create_index(
            "ix_kb_articles_listing", ["language", "status", "section_id", "position"], unique=False
        )

    op.create_table(
        "kb_article_versions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("article_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", _JSON, nullable=False),
        sa.Column("changed", _JSON, nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("editor_id", _ID, nullable=True),
        _at("created_at"),
        _article_fk("kb_article_versions"),
        _agent_fk("kb_article_versions", "editor_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_versions")),
        sa.UniqueConstraint("article_id", "version", name=op.f("uq_kb_article_versions_article_id_version")),
    )

    op.create_table(
        "kb_votes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("article_id", _ID, nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        _at("created_at"),
        _article_fk("kb_votes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_votes")),
    )
    with op.batch_alter_table("kb_votes") as batch_op:
        batch_op.create_index("ix_kb_votes_article_id", ["article_id"], unique=False)

    op.create_table(
        "kb_search_docs",
        sa.Column("article_id", _ID, autoincrement=False, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tsv", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True),
        _article_fk("kb_search_docs"),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_kb_search_docs")),
    )
    with op.batch_alter_table("kb_search_docs") as batch_op:
        batch_op.create_index("ix_kb_search_docs_tsv", ["tsv"], unique=False, postgresql_using="gin")

    op.create_table(
        "kb_terms",
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("head", sa.String(length=1), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_kb_terms")),
    )
    with op.batch_alter_table("kb_terms") as batch_op:
        batch_op.create_index("ix_kb_terms_head_length", ["head", "length"], unique=False)

    op.create_table(
        "kb_synonyms",
        sa.Column("id", _ID, nullable=False),
        sa.Column("phrases", _JSON, nullable=False),
        sa.Column("created_by", _ID, nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _agent_fk("kb_synonyms", "created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_synonyms")),
    )

    op.create_table(
        "kb_search_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("query", sa.String(length=300), nullable=False),
        sa.Column("normalized", sa.String(length=300), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("clicked_article_id", _ID, nullable=True),
        _at("created_at"),
        _article_fk("kb_search_log", "clicked_article_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_search_log")),
    )
    with op.batch_alter_table("kb_search_log") as batch_op:
        batch_op.create_index("ix_kb_search_log_gaps", ["created_at", "normalized"], unique=False)


def downgrade() -> None:
    # The SQLite FTS5 index is created by the application on first use (see kb/search/repository).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_fts")
    for table in (
        "kb_search_log",
        "kb_synonyms",
        "kb_terms",
        "kb_search_docs",
        "kb_votes",
        "kb_article_versions",
        "kb_articles",
        "kb_sections",
        "kb_categories",
    ):
        op.drop_table(table)
