"""All SQL about knowledge-base content: categories, sections, articles, versions and votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from opora.db import UnitOfWork
from opora.kb.models import KbArticle, KbArticleVersion, KbCategory, KbSection, KbVote


@dataclass
class ArticleFilter:
    language: str | None = None
    statuses: tuple[str, ...] | None = None
    include_internal: bool = True
    section_id: int | None = None
    category_id: int | None = None
    kind: str | None = None


async def categories(uow: UnitOfWork) -> list[KbCategory]:
    query = select(KbCategory).order_by(KbCategory.position, KbCategory.id)
    return list((await uow.session.scalars(query)).all())


async def sections(uow: UnitOfWork, category_id: int | None = None) -> list[KbSection]:
    query = select(KbSection).order_by(KbSection.category_id, KbSection.position, KbSection.id)
    if category_id is not None:
        query = query.where(KbSection.category_id == category_id)
    return list((await uow.session.scalars(query)).all())


async def get_category(uow: UnitOfWork, category_id: int) -> KbCategory | None:
    return await uow.session.get(KbCategory, category_id)


async def get_section(uow: UnitOfWork, section_id: int) -> KbSection | None:
    return await uow.session.get(KbSection, section_id)


async def slug_owner(uow: UnitOfWork, model: type[KbCategory] | type[KbSection], slug: str) -> int | None:
    return (await uow.session.scalars(select(model.id).where(model.slug == slug))).first()


async def get_article(uow: UnitOfWork, article_id: int, *, for_update: bool = False) -> KbArticle | None:
    if for_update:
        query = select(KbArticle).where(KbArticle.id == article_id).with_for_update()
        return (await uow.session.scalars(query)).first()
    return await uow.session.get(KbArticle, article_id)


async def article_by_slug(uow: UnitOfWork, language: str, slug: str) -> KbArticle | None:
    query = select(KbArticle).where(KbArticle.language == language, KbArticle.slug == slug)
    return (await uow.session.scalars(query)).first()


async def slug_taken(uow: UnitOfWork, language: str, slug: str, *, except_id: int | None) -> bool:
    query = select(KbArticle.id).where(KbArticle.language == language, KbArticle.slug == slug)
    if except_id is not None:
        query = query.where(KbArticle.id != except_id)
    return (await uow.session.scalars(query.limit(1))).first() is not None


async def translations(uow: UnitOfWork, translation_key: str) -> list[KbArticle]:
    query = select(KbArticle).where(KbArticle.translation_key == translation_key).order_by(KbArticle.language)
    return list((await uow.session.scalars(query)).all())


async def existing_ids(uow: UnitOfWork, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    return set((await uow.session.scalars(select(KbArticle.id).where(KbArticle.id.in_(list(ids))))).all())


def _filtered(f: ArticleFilter) -> Select[KbArticle]:
    query = select(KbArticle)
    if f.language:
        query = query.where(KbArticle.language == f.language)
    if f.statuses:
        query = query.where(KbArticle.status.in_(list(f.statuses)))
    if not f.include_internal:
        query = query.where(KbArticle.internal.is_(False))
    if f.section_id is not None:
        query = query.where(KbArticle.section_id == f.section_id)
    if f.category_id is not None:
        query = query.where(
            KbArticle.section_id.in_(select(KbSection.id).where(KbSection.category_id == f.category_id))
        )
    if f.kind:
        query = query.where(KbArticle.kind == f.kind)
    return query


async def list_articles(
    uow: UnitOfWork, f: ArticleFilter, *, limit: int, after: tuple[int, int] | None
) -> list[KbArticle]:
    """Position order, keyset-paginated on (position, id)."""
    query = _filtered(f)
    if after is not None:
        position, article_id = after
        query = query.where(
            or_(
                KbArticle.position > position, and_(KbArticle.position == position, KbArticle.id > article_id)
            )
        )
    query = query.order_by(KbArticle.position, KbArticle.id).limit(limit)
    return list((await uow.session.scalars(query)).all())


async def popular(uow: UnitOfWork, f: ArticleFilter, *, limit: int) -> list[KbArticle]:
    query = _filtered(f).order_by(KbArticle.view_count.desc(), KbArticle.id).limit(limit)
    return list((await uow.session.scalars(query)).all())


async def article_links(uow: UnitOfWork, f: ArticleFilter, *, limit: int) -> list[tuple[str, str, datetime]]:
    """(language, slug, updated_at) of the filtered articles: what a sitemap needs, without bodies."""
    query = (
        _filtered(f)
        .with_only_columns(KbArticle.language, KbArticle.slug, KbArticle.updated_at)
        .order_by(KbArticle.language, KbArticle.position, KbArticle.id)
        .limit(limit)
    )
    return [(str(a), str(b), c) for a, b, c in (await uow.session.execute(query)).all()]


async def count_view(uow: UnitOfWork, article: KbArticle) -> None:
    # One UPDATE, not read-modify-write: concurrent readers must not lose each other's views.
    await uow.session.execute(
        update(KbArticle)
        .where(KbArticle.id == article.id)
        .values(view_count=KbArticle.view_count + 1)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(article, "view_count", article.view_count + 1)


async def add_vote(uow: UnitOfWork, vote: KbVote) -> None:
    uow.session.add(vote)
    counter = KbArticle.helpful_count if vote.helpful else KbArticle.not_helpful_count
    await uow.session.execute(
        update(KbArticle).where(KbArticle.id == vote.article_id).values({counter: counter + 1})
    )
    await uow.session.flush()


async def votes(uow: UnitOfWork, article_id: int, *, limit: int) -> list[KbVote]:
    query = select(KbVote).where(KbVote.article_id == article_id).order_by(KbVote.id.desc()).limit(limit)
    return list((await uow.session.scalars(query)).all())


async def unhelpful(uow: UnitOfWork, *, min_votes: int, limit: int) -> list[KbArticle]:
    """Articles with at least ``min_votes`` "not helpful" votes, the worst share first."""
    total = KbArticle.helpful_count + KbArticle.not_helpful_count
    query = (
        select(KbArticle)
        .where(KbArticle.not_helpful_count >= min_votes)
        .order_by((KbArticle.not_helpful_count * 1000 / total).desc(), KbArticle.not_helpful_count.desc())
        .limit(limit)
    )
    return list((await uow.session.scalars(query)).all())


async def versions(uow: UnitOfWork, article_id: int) -> list[KbArticleVersion]:
    query = (
        select(KbArticleVersion)
        .where(KbArticleVersion.article_id == article_id)
        .order_by(KbArticleVersion.version.desc())
    )
    return list((await uow.session.scalars(query)).all())


async def version(uow: UnitOfWork, article_id: int, number: int) -> KbArticleVersion | None:
    query = select(KbArticleVersion).where(
        KbArticleVersion.article_id == article_id, KbArticleVersion.version == number
    )
    return (await uow.session.scalars(query)).first()


async def delete(uow: UnitOfWork, row: object) -> None:
    await uow.session.delete(row)
    await uow.session.flush()


async def articles_after(uow: UnitOfWork, after_id: int, *, limit: int) -> list[KbArticle]:
    query = select(KbArticle).where(KbArticle.id > after_id).order_by(KbArticle.id).limit(limit)
    return list((await uow.session.scalars(query)).all())
