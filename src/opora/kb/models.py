"""Knowledge base: categories > sections > articles (and FAQ entries), versions, votes, search.

Texts of categories and sections are ``{"ru": ..., "en": ...}`` maps; an article is written in one
language and its translations share a ``translation_key``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ArticleKind(StrEnum):
    ARTICLE = "article"
    FAQ = "faq"


class KbLanguage(StrEnum):
    RU = "ru"
    EN = "en"


class KbCategory(Base):
    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbSection(Base):
    __tablename__ = "kb_sections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("kb_categories.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("language", "slug"),
        # One translation per language in a group.
        UniqueConstraint("translation_key", "language"),
        # The portal's lists: published articles of one language, by section and position.
        Index("ix_kb_articles_listing", "language", "status", "section_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("kb_sections.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10), default=ArticleKind.ARTICLE)
    language: Mapped[str] = mapped_column(String(2))
    translation_key: Mapped[str] = mapped_column(String(32))
    slug: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    body_md: Mapped[str] = mapped_column(Text, default="")
    # Rendered from body_md and sanitised on every save; never edited directly.
    body_html: Mapped[str] = mapped_column(Text, default="")
    # Plain text of the body: snippets in search results, and what the bot quotes.
    body_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=ArticleStatus.DRAFT)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    related_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def public(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED and not self.internal

    def columns(self) -> dict[str, Any]:
        return {c.key: getattr(self, c.key) for c in self.__table__.columns}


class KbArticleVersion(Base):
    """A snapshot of an article after each save: who changed what, and what to restore."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # The article's editable fields as they were after this save.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonType)
    changed: Mapped[list[str]] = mapped_column(JsonType, default=list)
    note: Mapped[str] = mapped_column(String(300), default="")
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbVote(Base):
    __tablename__ = "kb_votes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbSearchDoc(Base):
    """The stemmed text the full-text index is built from, one row per article.

    SQLite: the FTS5 table ``kb_fts`` uses this table as its external content (kept in step by
    triggers). PostgreSQL: ``tsv`` holds the weighted tsvector (title A, body B) under a GIN index;
    on SQLite the column stays NULL.
    """

    __tablename__ = "kb_search_docs"
    __table_args__ = (
        Index("ix_kb_search_docs_tsv", "tsv", postgresql_using="gin"),
        # Covers a search's visibility filter: SQLite checks matches against it without reading
        # the docs' rows, whose long stemmed texts come first.
        Index("ix_kb_search_docs_scope", "article_id", "status", "internal", "language"),
    )

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    tsv: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))
    # Copies of the article's visibility, so that a search on SQLite filters its matches without
    # reading every matched article's row (PostgreSQL keeps long texts out of line and joins).
    language: Mapped[str] = mapped_column(String(2), server_default="")
    status: Mapped[str] = mapped_column(String(10), server_default="")
    internal: Mapped[bool] = mapped_column(Boolean, server_default=false())


class KbArticleVector(Base):
    """An article's sentence embedding (float32 bytes, L2-normalised), for semantic re-ranking.

    Written by the ``kb.embed_article`` job after every change that re-indexes the article, so a
    slow encoder never holds up an editor's request. ``revision`` grows on every write: searching
    processes compare count and sum of revisions to know their in-memory copy is stale.
    """

    __tablename__ = "kb_article_vectors"

    article_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # A copy of the article's language, so a search in one language ranks only its vectors.
    language: Mapped[str] = mapped_column(String(2))
    encoder: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class KbTerm(Base):
    """Every stem ever indexed: the vocabulary typo tolerance corrects query words against."""

    __tablename__ = "kb_terms"
    # Candidates for a correction share the first letter and are about as long.
    __table_args__ = (Index("ix_kb_terms_head_length", "head", "length"),)

    term: Mapped[str] = mapped_column(String(100), primary_key=True)
    head: Mapped[str] = mapped_column(String(1))
    length: Mapped[int] = mapped_column(Integer)


class KbSynonym(Base):
    """A group of words or phrases a search treats as the same («ПВЗ», «пункт выдачи»)."""

    __tablename__ = "kb_synonyms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phrases: Mapped[list[str]] = mapped_column(JsonType)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbSearchLog(Base):
    """One search as a visitor, the widget or an agent ran it, and what was clicked after."""

    __tablename__ = "kb_search_log"
    __table_args__ = (Index("ix_kb_search_log_gaps", "created_at", "normalized"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    query: Mapped[str] = mapped_column(String(300))
    # Stems sorted and deduplicated: «возврат денег» and «деньги вернуть?» group together.
    normalized: Mapped[str] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(10))
    result_count: Mapped[int] = mapped_column(Integer)
    clicked_article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
