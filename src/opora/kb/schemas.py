"""API shapes of the knowledge base."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from opora.kb.models import ArticleKind, ArticleStatus, KbLanguage
from opora.kit.schema import Input, Output

MAX_BODY = 200_000
Slug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100
    ),
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Texts = dict[KbLanguage, Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]]


class CategoryIn(Input):
    slug: Slug
    title: Texts = Field(description="Title per language, e.g. {'ru': 'Доставка', 'en': 'Delivery'}.")
    description: Texts = Field(default_factory=dict)
    position: int = 0


class CategoryUpdate(Input):
    slug: Slug | None = None
    title: Texts | None = None
    description: Texts | None = None
    position: int | None = None


class SectionIn(CategoryIn):
    category_id: int


class SectionUpdate(CategoryUpdate):
    category_id: int | None = None


class SectionOut(Output):
    id: int
    category_id: int
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    position: int


class CategoryOut(Output):
    id: int
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    position: int
    sections: list[SectionOut] = Field(default_factory=list)


class ArticleCreate(Input):
    language: KbLanguage
    title: Title
    body_md: str = Field(default="", max_length=MAX_BODY)
    section_id: int | None = None
    kind: ArticleKind = ArticleKind.ARTICLE
    slug: Slug | None = Field(default=None, description="Made from the title when left out.")
    internal: bool = Field(default=False, description="Visible to agents only, never on the portal.")
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    related_ids: list[int] = Field(default_factory=list, max_length=20)
    position: int = 0
    translation_of: int | None = Field(default=None, description="An article this one translates.")
    note: str = Field(default="", max_length=300, description="What changed, for the history.")


class ArticleUpdate(Input):
    title: Title | None = None
    body_md: str | None = Field(default=None, max_length=MAX_BODY)
    section_id: int | None = None
    kind: ArticleKind | None = None
    slug: Slug | None = None
    internal: bool | None = None
    tags: list[Tag] | None = Field(default=None, max_length=30)
    related_ids: list[int] | None = Field(default=None, max_length=20)
    position: int | None = None
    note: str = Field(default="", max_length=300)


class StatusIn(Input):
    status: ArticleStatus
    note: str = Field(default="", max_length=300)


class RestoreIn(Input):
    version: int
    note: str = Field(default="", max_length=300)


class PreviewIn(Input):
    body_md: str = Field(max_length=MAX_BODY)


class PreviewOut(Output):
    body_html: str


class ArticleSummary(Output):
    id: int
    language: str
    slug: str
    title: str
    kind: str
    section_id: int | None
    status: str
    internal: bool
    tags: list[str]
    view_count: int
    updated_at: datetime


class ArticleOut(ArticleSummary):
    translation_key: str
    body_md: str
    body_html: str
    related_ids: list[int]
    position: int
    version: int
    helpful_count: int
    not_helpful_count: int
    created_by: int | None
    updated_by: int | None
    created_at: datetime
    published_at: datetime | None
    translations: dict[str, int] = Field(default_factory=dict, description="language → article id")


class PublicArticleOut(Output):
    id: int
    language: str
    slug: str
    title: str
    kind: str
    section_id: int | None
    body_html: str
    tags: list[str]
    related: list[PublicArticleLink]
    translations: dict[str, str] = Field(default_factory=dict, description="language → slug")
    helpful_count: int
    not_helpful_count: int
    updated_at: datetime


class PublicArticleLink(Output):
    id: int
    language: str
    slug: str
    title: str


class VersionOut(Output):
    version: int
    changed: list[str]
    note: str
    editor_id: int | None
    created_at: datetime
    title: str
    body_md: str


class VoteIn(Input):
    helpful: bool
    comment: str | None = Field(default=None, max_length=2000)


class VoteOut(Output):
    helpful_count: int
    not_helpful_count: int


class HitOut(Output):
    id: int
    language: str
    slug: str
    title: str
    internal: bool
    title_html: str = Field(description="The title, HTML-escaped, matched words in <mark>.")
    snippet_html: str = Field(description="The best passage, HTML-escaped, matched words in <mark>.")
    score: float


class SearchOut(Output):
    query: str
    search_id: int | None
    hits: list[HitOut]
    corrections: dict[str, list[str]] = Field(
        description="Query stems not in the index → what was searched instead."
    )


class ClickIn(Input):
    article_id: int


class SynonymIn(Input):
    phrases: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]] = (
        Field(min_length=2, max_length=20)
    )


class SynonymOut(Output):
    id: int
    phrases: list[str]
    updated_at: datetime


class SearchGapOut(Output):
    normalized: str
    example: str
    searches: int
    without_results: int
    without_clicks: int
    last_at: datetime


class UnhelpfulOut(Output):
    id: int
    language: str
    slug: str
    title: str
    helpful_count: int
    not_helpful_count: int
    recent_comments: list[str]


class GapsOut(Output):
    searches: list[SearchGapOut]
    unhelpful_articles: list[UnhelpfulOut]


PublicArticleOut.model_rebuild()
