"""Knowledge-base use cases: the taxonomy, articles with versions, the portal's reads, votes, gaps.

Who may do what (ADR 0018): anyone signed in reads everything, internal articles and drafts
included; agents write drafts and internal articles; what visitors see changes only by a
supervisor or an admin (publishing, archiving, editing or restoring a published public article);
admins own the taxonomy, synonyms and the content-gap report. The public reads here return only
published, non-internal articles.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.kb import markdown, repository
from opora.kb.models import ArticleStatus, KbArticle, KbArticleVersion, KbCategory, KbSection, KbVote
from opora.kb.repository import ArticleFilter
from opora.kb.schemas import (
    ArticleCreate,
    ArticleUpdate,
    CategoryIn,
    CategoryUpdate,
    SectionIn,
    SectionUpdate,
)
from opora.kb.search import repository as search_repository
from opora.kb.search.service import index_article
from opora.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from opora.kit.pagination import cursor_int, decode_cursor, split_page
from opora.kit.text import fold
from opora.kit.time import utcnow

# The fields a version snapshots and a restore brings back; status and visibility are decisions
# of their own and stay as they are.
CONTENT_FIELDS = ("title", "body_md", "section_id", "kind", "slug", "tags", "related_ids", "position")
VERSIONED_FIELDS = (*CONTENT_FIELDS, "status", "internal")

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "-",
            "y",
            "-",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """A Latin URL slug from a title in Russian or English («Возврат товара» → vozvrat-tovara)."""
    latin = "".join(_TRANSLIT.get(ch, ch) if ch != "-" else " " for ch in fold(title))
    return _NOT_SLUG.sub("-", latin.replace("-", "")).strip("-")[:90] or "article"


def can_change_public(principal: Principal) -> bool:
    return principal.sees_all_tickets


def _check_public_edit(principal: Principal, article: KbArticle) -> None:
    if not principal.can_write:
        raise Forbidden("This account is read-only.")
    if article.public and not can_change_public(principal):
        raise Forbidden("Only supervisors and admins may change a published article.")


# --- taxonomy --------------------------------------------------------------------------------


async def list_categories(
    uow: UnitOfWork, *, language: str | None = None
) -> list[tuple[KbCategory, list[KbSection]]]:
    """Categories with their sections, in position order. With ``language``, only those titled in it."""
    cats = await repository.categories(uow)
    by_category: dict[int, list[KbSection]] = {}
    for section in await repository.sections(uow):
        if language is None or section.title.get(language):
            by_category.setdefault(section.category_id, []).append(section)
    return [(c, by_category.get(c.id, [])) for c in cats if language is None or c.title.get(language)]


async def _check_slug(
    uow: UnitOfWork, model: type[KbCategory] | type[KbSection], slug: str, own: int | None
) -> None:
    owner = await repository.slug_owner(uow, model, slug)
    if owner is not None and owner != own:
        raise Conflict(f"The slug {slug!r} is taken.", field="slug")


def _check_title(title: dict[Any, str]) -> dict[str, str]:
    cleaned = {str(k): v for k, v in title.items() if v}
    if not cleaned:
        raise InvalidInput("Give a title in Russian or English.", field="title")
    return cleaned


async def create_category(uow: UnitOfWork, data: CategoryIn) -> KbCategory:
    await _check_slug(uow, KbCategory, data.slug, None)
    now = utcnow()
    row = KbCategory(
        slug=data.slug,
        title=_check_title(data.title),
        description={str(k): v for k, v in data.description.items() if v},
        position=data.position,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def create_section(uow: UnitOfWork, data: SectionIn) -> KbSection:
    if await repository.get_category(uow, data.category_id) is None:
        raise InvalidInput(f"Category {data.category_id} does not exist.", field="category_id")
    await _check_slug(uow, KbSection, data.slug, None)
    now = utcnow()
    row = KbSection(
        category_id=data.category_id,
        slug=data.slug,
        title=_check_title(data.title),
        description={str(k): v for k, v in data.description.items() if v},
        position=data.position,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def update_taxon(
    uow: UnitOfWork,
    model: type[KbCategory] | type[KbSection],
    taxon_id: int,
    data: CategoryUpdate | SectionUpdate,
) -> KbCategory | KbSection:
    row = await (repository.get_category if model is KbCategory else repository.get_section)(uow, taxon_id)
    if row is None:
        raise NotFound(f"{model.__name__.removeprefix('Kb')} {taxon_id} does not exist.")
    changes = data.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise InvalidInput("Fields cannot be null.")
    if "slug" in changes:
        await _check_slug(uow, model, changes["slug"], row.id)
    if "title" in changes:
        changes["title"] = _check_title(changes["title"])
    if "category_id" in changes and await repository.get_category(uow, changes["category_id"]) is None:
        raise InvalidInput(f"Category {changes['category_id']} does not exist.", field="category_id")
    for key, value in changes.items():
        setattr(row, key, {str(k): v for k, v in value.items()} if isinstance(value, dict) else value)
    row.updated_at = utcnow()
    await uow.session.flush()
    return row


async def delete_taxon(uow: UnitOfWork, model: type[KbCategory] | type[KbSection], taxon_id: int) -> None:
    """Sections go with their category; their articles stay, outside any section."""
    row = await (repository.get_category if model is KbCategory else repository.get_section)(uow, taxon_id)
    if row is None:
        raise NotFound(f"{model.__name__.removeprefix('Kb')} {taxon_id} does not exist.")
    await repository.delete(uow, row)


# --- articles --------------------------------------------------------------------------------


async def get_article(uow: UnitOfWork, article_id: int, *, for_update: bool = False) -> KbArticle:
    article = await repository.get_article(uow, article_id, for_update=for_update)
    if article is None:
        raise NotFound(f"Article {article_id} does not exist.")
    return article


async def _check_refs(uow: UnitOfWork, article: KbArticle) -> None:
    if article.section_id is not None and await repository.get_section(uow, article.section_id) is None:
        raise InvalidInput(f"Section {article.section_id} does not exist.", field="section_id")
    related = list(dict.fromkeys(i for i in article.related_ids if i != article.id))
    missing = set(related) - await repository.existing_ids(uow, related)
    if missing:
        raise InvalidInput(f"Related articles do not exist: {sorted(missing)}.", field="related_ids")
    article.related_ids = related
    if await repository.slug_taken(uow, article.language, article.slug, except_id=article.id):
        raise Conflict(f"The slug {article.slug!r} is taken in {article.language}.", field="slug")


def _render(article: KbArticle) -> None:
    article.body_html = markdown.render(article.body_md)
    article.body_text = markdown.plain_text(article.body_html)


def _snapshot(article: KbArticle) -> dict[str, Any]:
    return {key: getattr(article, key) for key in VERSIONED_FIELDS}


async def _save_version(
    uow: UnitOfWork, article: KbArticle, principal: Principal, before: dict[str, Any] | None, note: str
) -> None:
    after = _snapshot(article)
    changed = sorted(after) if before is None else [k for k in VERSIONED_FIELDS if before[k] != after[k]]
    uow.session.add(
        KbArticleVersion(
            article_id=article.id,
            version=article.version,
            snapshot=after,
            changed=changed,
            note=note,
            editor_id=principal.agent_id,
            created_at=article.updated_at,
        )
    )
    await index_article(uow, article)
    await uow.session.flush()


async def create_article(uow: UnitOfWork, principal: Principal, data: ArticleCreate) -> KbArticle:
    """A new draft (version 1), optionally as the translation of another article."""
    if not principal.can_write:
        raise Forbidden("This account is read-only.")
    key = uuid.uuid4().hex
    if data.translation_of is not None:
        source = await repository.get_article(uow, data.translation_of)
        if source is None:
            raise InvalidInput(f"Article {data.translation_of} does not exist.", field="translation_of")
        if any(
            t.language == data.language for t in await repository.translations(uow, source.translation_key)
        ):
            raise Conflict(f"This article already has a {data.language} translation.", field="language")
        key = source.translation_key
    now = utcnow()
    article = KbArticle(
        language=data.language,
        translation_key=key,
        slug=data.slug or slugify(data.title),
        title=data.title,
        body_md=data.body_md,
        section_id=data.section_id,
        kind=data.kind,
        status=ArticleStatus.DRAFT,
        internal=data.internal,
        tags=sorted(set(data.tags)),
        related_ids=data.related_ids,
        position=data.position,
        version=1,
        created_by=principal.agent_id,
        updated_by=principal.agent_id,
        created_at=now,
        updated_at=now,
    )
    _render(article)
    await _check_refs(uow, article)
    uow.session.add(article)
    await uow.session.flush()
    await _save_version(uow, article, principal, None, data.note)
    return article


async def _apply(
    uow: UnitOfWork, principal: Principal, article: KbArticle, changes: dict[str, Any], note: str
) -> KbArticle:
    before = _snapshot(article)
    for key, value in changes.items():
        setattr(article, key, value)
    if _snapshot(article) == before:
        return article
    _render(article)
    await _check_refs(uow, article)
    article.version += 1
    article.updated_by = principal.agent_id
    article.updated_at = utcnow()
    if article.status == ArticleStatus.PUBLISHED and before["status"] != ArticleStatus.PUBLISHED:
        article.published_at = article.updated_at
    await _save_version(uow, article, principal, before, note)
    return article


async def update_article(
    uow: UnitOfWork, principal: Principal, article_id: int, data: ArticleUpdate
) -> KbArticle:
    article = await get_article(uow, article_id, for_update=True)
    _check_public_edit(principal, article)
    changes = data.model_dump(exclude_unset=True, exclude={"note"})
    for key in ("title", "body_md", "kind", "slug", "internal", "tags", "related_ids", "position"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    going_public = changes.get("internal") is False and article.status == ArticleStatus.PUBLISHED
    if going_public and not can_change_public(principal):
        raise Forbidden("Only supervisors and admins may make a published article public.")
    return await _apply(uow, principal, article, changes, data.note)


async def set_status(
    uow: UnitOfWork, principal: Principal, article_id: int, status: str, note: str
) -> KbArticle:
    """Publishing, unpublishing (back to draft) and archiving: supervisors and admins."""
    if not can_change_public(principal):
        raise Forbidden("Only supervisors and admins may publish or archive articles.")
    article = await get_article(uow, article_id, for_update=True)
    return await _apply(uow, principal, article, {"status": status}, note)


async def restore_version(
    uow: UnitOfWork, principal: Principal, article_id: int, number: int, note: str
) -> KbArticle:
    """The content of an earlier version becomes a new version; history is never rewritten."""
    article = await get_article(uow, article_id, for_update=True)
    _check_public_edit(principal, article)
    old = await repository.version(uow, article_id, number)
    if old is None:
        raise NotFound(f"Article {article_id} has no version {number}.")
    changes = {key: old.snapshot[key] for key in CONTENT_FIELDS if key in old.snapshot}
    return await _apply(uow, principal, article, changes, note or f"Restored version {number}.")


async def delete_article(uow: UnitOfWork, article_id: int) -> None:
    await repository.delete(uow, await get_article(uow, article_id))


async def list_versions(uow: UnitOfWork, article_id: int) -> list[KbArticleVersion]:
    await get_article(uow, article_id)
    return await repository.versions(uow, article_id)


async def translations_of(uow: UnitOfWork, article: KbArticle, *, public: bool) -> list[KbArticle]:
    rows = await repository.translations(uow, article.translation_key)
    return [r for r in rows if r.id != article.id and (r.public or not public)]


async def list_articles(
    uow: UnitOfWork, f: ArticleFilter, *, limit: int, cursor: str | None
) -> tuple[list[KbArticle], str | None]:
    after = None
    if cursor:
        position, article_id = decode_cursor(cursor, 2)
        after = (cursor_int(position), cursor_int(article_id))
    rows = await repository.list_articles(uow, f, limit=limit + 1, after=after)
    return split_page(rows, limit, lambda a: (a.position, a.id))


# --- the portal's reads ----------------------------------------------------------------------


def public_filter(language: str | None, **narrow: Any) -> ArticleFilter:
    return ArticleFilter(
        language=language, statuses=(ArticleStatus.PUBLISHED,), include_internal=False, **narrow
    )


async def list_published(
    uow: UnitOfWork,
    language: str,
    *,
    section_id: int | None = None,
    category_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[KbArticle], str | None]:
    f = public_filter(language, section_id=section_id, category_id=category_id)
    return await list_articles(uow, f, limit=limit, cursor=cursor)


async def public_links(uow: UnitOfWork, *, limit: int = 50_000) -> list[tuple[str, str, Any]]:
    """(language, slug, updated_at) of every published public article: the portal's sitemap."""
    return await repository.article_links(uow, public_filter(None), limit=limit)


async def popular_articles(uow: UnitOfWork, language: str, *, limit: int = 10) -> list[KbArticle]:
    return await repository.popular(uow, public_filter(language), limit=limit)


async def public_article(uow: UnitOfWork, language: str, slug: str, *, count_view: bool = True) -> KbArticle:
    """A published public article by its slug; anything else does not exist for a visitor."""
    article = await repository.article_by_slug(uow, language, slug)
    if article is None or not article.public:
        raise NotFound("This article does not exist.")
    if count_view:
        await repository.count_view(uow, article)
    return article


async def public_related(uow: UnitOfWork, article: KbArticle) -> list[KbArticle]:
    found = await search_repository.articles_by_ids(uow, article.related_ids)
    return [found[i] for i in article.related_ids if i in found and found[i].public]


async def vote(uow: UnitOfWork, article_id: int, *, helpful: bool, comment: str | None) -> KbArticle:
    """A visitor's "was this helpful?"; only published public articles take votes."""
    article = await repository.get_article(uow, article_id)
    if article is None or not article.public:
        raise NotFound("This article does not exist.")
    text = (comment or "").strip() or None
    await repository.add_vote(
        uow, KbVote(article_id=article_id, helpful=helpful, comment=text, created_at=utcnow())
    )
    await uow.session.refresh(article)
    return article


# --- content gaps ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchGap:
    normalized: str
    example: str
    searches: int
    without_results: int
    without_clicks: int
    last_at: Any


async def search_gaps(uow: UnitOfWork, *, days: int = 30, limit: int = 50) -> list[SearchGap]:
    """Searches of the last ``days`` that found nothing or whose results nobody opened."""
    since = utcnow() - timedelta(days=days)
    rows = await search_repository.unanswered_searches(uow, since=since, limit=limit)
    return [SearchGap(str(r[0]), str(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0), r[5]) for r in rows]


async def unhelpful_articles(
    uow: UnitOfWork, *, min_votes: int = 3, limit: int = 50
) -> list[tuple[KbArticle, list[str]]]:
    """Articles with many "not helpful" votes, with the latest comments visitors left."""
    out = []
    for article in await repository.unhelpful(uow, min_votes=min_votes, limit=limit):
        recent = await repository.votes(uow, article.id, limit=20)
        out.append((article, [v.comment for v in recent if v.comment and not v.helpful][:5]))
    return out
