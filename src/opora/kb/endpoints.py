"""/api/v1/kb: the agents' and admins' knowledge-base API, and /api/v1/kb/public for visitors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from opora.auth.deps import Admin, CurrentPrincipal, Supervisor, Uow, Writer
from opora.db import UnitOfWork
from opora.kb import markdown, service
from opora.kb.models import ArticleKind, ArticleStatus, KbArticle, KbCategory, KbLanguage, KbSection
from opora.kb.repository import ArticleFilter
from opora.kb.schemas import (
    ArticleCreate,
    ArticleOut,
    ArticleSummary,
    ArticleUpdate,
    CategoryIn,
    CategoryOut,
    CategoryUpdate,
    ClickIn,
    GapsOut,
    HitOut,
    PreviewIn,
    PreviewOut,
    PublicArticleLink,
    PublicArticleOut,
    RestoreIn,
    SearchGapOut,
    SearchOut,
    SectionIn,
    SectionOut,
    SectionUpdate,
    StatusIn,
    SynonymIn,
    SynonymOut,
    UnhelpfulOut,
    VersionOut,
    VoteIn,
    VoteOut,
)
from opora.kb.search import service as search
from opora.kb.search.service import SearchResult
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base"])
public_router = APIRouter(prefix="/api/v1/kb/public", tags=["knowledge base (public)"])

Q = Annotated[str, Query(max_length=5_000)]
Limit = Annotated[int, Query(ge=1, le=search.MAX_LIMIT)]


def _categories(rows: list[tuple[KbCategory, list[KbSection]]]) -> list[CategoryOut]:
    return [
        CategoryOut.model_validate(c).model_copy(
            update={"sections": [SectionOut.model_validate(s) for s in ss]}
        )
        for c, ss in rows
    ]


async def _article_out(uow: UnitOfWork, article: KbArticle) -> ArticleOut:
    translations = await service.translations_of(uow, article, public=False)
    return ArticleOut.model_validate(
        {**article.columns(), "translations": {t.language: t.id for t in translations}}
    )


def _search_out(result: SearchResult) -> SearchOut:
    hits = [
        HitOut(
            id=h.article.id,
            language=h.article.language,
            slug=h.article.slug,
            title=h.article.title,
            internal=h.article.internal,
            title_html=h.title_html,
            snippet_html=h.snippet_html,
            score=round(h.score, 6),
        )
        for h in result.hits
    ]
    return SearchOut(
        query=result.query, search_id=result.search_id, hits=hits, corrections=result.corrections
    )


# --- taxonomy ----------------------------------------------------------------------------------


@router.get("/categories")
async def list_categories(uow: Uow, _: CurrentPrincipal) -> list[CategoryOut]:
    return _categories(await service.list_categories(uow))


@router.post("/categories", status_code=201)
async def create_category(data: CategoryIn, uow: Uow, _: Admin) -> CategoryOut:
    return CategoryOut.model_validate(await service.create_category(uow, data))


@router.patch("/categories/{category_id}")
async def update_category(category_id: int, data: CategoryUpdate, uow: Uow, _: Admin) -> CategoryOut:
    return CategoryOut.model_validate(await service.update_taxon(uow, KbCategory, category_id, data))


@router.delete("/categories/{category_id}", status_code=204, response_class=Response)
async def delete_category(category_id: int, uow: Uow, _: Admin) -> None:
    await service.delete_taxon(uow, KbCategory, category_id)


@router.post("/sections", status_code=201)
async def create_section(data: SectionIn, uow: Uow, _: Admin) -> SectionOut:
    return SectionOut.model_validate(await service.create_section(uow, data))


@router.patch("/sections/{section_id}")
async def update_section(section_id: int, data: SectionUpdate, uow: Uow, _: Admin) -> SectionOut:
    return SectionOut.model_validate(await service.update_taxon(uow, KbSection, section_id, data))


@router.delete("/sections/{section_id}", status_code=204, response_class=Response)
async def delete_section(section_id: int, uow: Uow, _: Admin) -> None:
    await service.delete_taxon(uow, KbSection, section_id)


# --- articles ----------------------------------------------------------------------------------


@router.get("/articles")
async def list_articles(
    uow: Uow,
    _: CurrentPrincipal,
    language: KbLanguage | None = None,
    status: ArticleStatus | None = None,
    section_id: int | None = None,
    kind: ArticleKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[ArticleSummary]:
    """Every article, drafts and internal ones included, in position order."""
    f = ArticleFilter(
        language=language, statuses=(status,) if status else None, section_id=section_id, kind=kind
    )
    rows, next_cursor = await service.list_articles(uow, f, limit=limit, cursor=cursor)
    return Page(items=[ArticleSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/articles", status_code=201)
async def create_article(data: ArticleCreate, uow: Uow, principal: Writer) -> ArticleOut:
    return await _article_out(uow, await service.create_article(uow, principal, data))


@router.post("/preview")
async def preview(data: PreviewIn, _: CurrentPrincipal) -> PreviewOut:
    """The body as the portal will show it, without saving anything."""
    return PreviewOut(body_html=markdown.render(data.body_md))


@router.get("/articles/{article_id}")
async def get_article(article_id: int, uow: Uow, _: CurrentPrincipal) -> ArticleOut:
    return await _article_out(uow, await service.get_article(uow, article_id))


@router.patch("/articles/{article_id}")
async def update_article(article_id: int, data: ArticleUpdate, uow: Uow, principal: Writer) -> ArticleOut:
    return await _article_out(uow, await service.update_article(uow, principal, article_id, data))


@router.post("/articles/{article_id}/status")
async def set_status(article_id: int, data: StatusIn, uow: Uow, principal: Supervisor) -> ArticleOut:
    """Publish, unpublish (back to draft) or archive: supervisors and admins."""
    return await _article_out(
        uow, await service.set_status(uow, principal, article_id, data.status, data.note)
    )


@router.delete("/articles/{article_id}", status_code=204, response_class=Response)
async def delete_article(article_id: int, uow: Uow, _: Admin) -> None:
    await service.delete_article(uow, article_id)


@router.get("/articles/{article_id}/versions")
async def list_versions(article_id: int, uow: Uow, _: CurrentPrincipal) -> list[VersionOut]:
    return [
        VersionOut.model_validate(
            {
                **{c: getattr(v, c) for c in ("version", "changed", "note", "editor_id", "created_at")},
                "title": v.snapshot.get("title", ""),
                "body_md": v.snapshot.get("body_md", ""),
            }
        )
        for v in await service.list_versions(uow, article_id)
    ]


@router.post("/articles/{article_id}/restore")
async def restore_version(article_id: int, data: RestoreIn, uow: Uow, principal: Writer) -> ArticleOut:
    return await _article_out(
        uow, await service.restore_version(uow, principal, article_id, data.version, data.note)
    )


# --- search, suggestions, synonyms, gaps ----------------------------------------------------------


@router.get("/search")
async def agent_search(
    uow: Uow,
    _: CurrentPrincipal,
    q: Q = "",
    language: KbLanguage | None = None,
    drafts: bool = False,
    limit: Limit = 10,
) -> SearchOut:
    """Published articles, internal ones included (and drafts on request), best first."""
    scope = search.agent_scope(language, drafts=drafts)
    return _search_out(await search.search(uow, q, scope=scope, limit=limit, source="agent", log=False))


@router.get("/suggestions")
async def ticket_suggestions(
    uow: Uow, principal: CurrentPrincipal, ticket_id: int, limit: Limit = 5
) -> SearchOut:
    """Articles answering a ticket, for the agent's composer."""
    return _search_out(await search.suggest_for_ticket(uow, principal, ticket_id, limit=limit))


@router.get("/synonyms")
async def list_synonyms(uow: Uow, _: CurrentPrincipal) -> list[SynonymOut]:
    return [SynonymOut.model_validate(s) for s in await search.list_synonyms(uow)]


@router.post("/synonyms", status_code=201)
async def create_synonym(data: SynonymIn, uow: Uow, principal: Admin) -> SynonymOut:
    return SynonymOut.model_validate(await search.create_synonym(uow, principal, data.phrases))


@router.put("/synonyms/{synonym_id}")
async def update_synonym(synonym_id: int, data: SynonymIn, uow: Uow, _: Admin) -> SynonymOut:
    return SynonymOut.model_validate(await search.update_synonym(uow, synonym_id, data.phrases))


@router.delete("/synonyms/{synonym_id}", status_code=204, response_class=Response)
async def delete_synonym(synonym_id: int, uow: Uow, _: Admin) -> None:
    await search.delete_synonym(uow, synonym_id)


@router.get("/gaps")
async def content_gaps(
    uow: Uow,
    _: Admin,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    min_votes: Annotated[int, Query(ge=1, le=1000)] = 3,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> GapsOut:
    """Searches that found nothing or that nobody clicked, and articles voted "not helpful"."""
    searches = [
        SearchGapOut.model_validate(g) for g in await service.search_gaps(uow, days=days, limit=limit)
    ]
    unhelpful = [
        UnhelpfulOut.model_validate({**a.columns(), "recent_comments": comments})
        for a, comments in await service.unhelpful_articles(uow, min_votes=min_votes, limit=limit)
    ]
    return GapsOut(searches=searches, unhelpful_articles=unhelpful)


# --- public ------------------------------------------------------------------------------------


@public_router.get("/categories")
async def public_categories(uow: Uow, language: KbLanguage) -> list[CategoryOut]:
    return _categories(await service.list_categories(uow, language=language))


@public_router.get("/articles")
async def public_articles(
    uow: Uow,
    language: KbLanguage,
    section_id: int | None = None,
    category_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[PublicArticleLink]:
    rows, next_cursor = await service.list_published(
        uow, language, section_id=section_id, category_id=category_id, limit=limit, cursor=cursor
    )
    return Page(items=[PublicArticleLink.model_validate(r) for r in rows], next_cursor=next_cursor)


@public_router.get("/articles/{language}/{slug}")
async def public_article(language: KbLanguage, slug: str, uow: Uow) -> PublicArticleOut:
    """A published article; counts a view."""
    article = await service.public_article(uow, language, slug)
    translations = await service.translations_of(uow, article, public=True)
    related = await service.public_related(uow, article)
    return PublicArticleOut.model_validate(
        {
            **article.columns(),
            "related": [PublicArticleLink.model_validate(r) for r in related],
            "translations": {t.language: t.slug for t in translations},
        }
    )


@public_router.get("/search")
async def public_search(
    uow: Uow, q: Q = "", language: KbLanguage | None = None, limit: Limit = 10
) -> SearchOut:
    """Published public articles; the search is logged for content gaps (report clicks back)."""
    return _search_out(await search.search(uow, q, scope=search.public_scope(language), limit=limit))


@public_router.get("/suggest")
async def public_suggest(
    uow: Uow, q: Q = "", language: KbLanguage | None = None, limit: Limit = 5
) -> SearchOut:
    """While the visitor types in the widget: the last word may be unfinished."""
    return _search_out(await search.suggest_for_widget(uow, q, language=language, limit=limit))


@public_router.post("/searches/{search_id}/click", status_code=204, response_class=Response)
async def public_click(search_id: int, data: ClickIn, uow: Uow) -> None:
    await search.record_click(uow, search_id, data.article_id)


@public_router.post("/articles/{article_id}/votes", status_code=201)
async def public_vote(article_id: int, data: VoteIn, uow: Uow) -> VoteOut:
    article = await service.vote(uow, article_id, helpful=data.helpful, comment=data.comment)
    return VoteOut.model_validate(article)
