"""Knowledge-base pages of the portal: home, category, section, article, search with suggestions
while typing, "was this helpful?", and the sitemap. Server-rendered and indexable.

Every read goes through the knowledge base's public functions, which return published,
non-internal articles only; nothing here filters on its own, so nothing here can forget to.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth.deps import Uow
from opora.kb import links as kb_links
from opora.kb import service as kb
from opora.kb.models import KbArticle, KbCategory, KbSection
from opora.kb.search import service as search
from opora.kit.errors import AppError, NotFound
from opora.web.i18n import gettext as _
from opora.web.portal.common import PREFIX, help_links, language_of, page, preferred_language, same_origin

router = APIRouter(include_in_schema=False)

Q = Annotated[str, Query(max_length=5_000)]
SITEMAP_LIMIT = 50_000
# Public pages change when an editor publishes; a minute of caching is invisible to them.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=60"}


def article_url(article: KbArticle) -> str:
    return kb_links.article_path(article.language, article.slug)


async def _taxon(
    uow: Uow, language: str, slug: str, *, section: bool
) -> tuple[KbCategory, list[KbSection], KbSection | None]:
    for category, sections in await kb.list_categories(uow, language=language):
        if not section and category.slug == slug:
            return category, sections, None
        for item in sections:
            if section and item.slug == slug:
                return category, sections, item
    raise NotFound("This page does not exist.")


@router.get(PREFIX)
async def portal_root(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/{preferred_language(request)}", status_code=303)


@router.get(f"{PREFIX}/sitemap.xml")
async def sitemap(request: Request, uow: Uow) -> Response:
    """Every public article of both languages, with its translation as an alternate."""
    base = str(request.app.state.runtime.settings.public_url)
    urls = [f"<url><loc>{escape(base)}{PREFIX}/{lang}</loc></url>" for lang in ("ru", "en")]
    for language, slug, updated_at in await kb.public_links(uow, limit=SITEMAP_LIMIT):
        loc = escape(kb_links.article_url(base, language, slug))
        urls.append(f"<url><loc>{loc}</loc><lastmod>{updated_at.date().isoformat()}</lastmod></url>")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + "\n".join(urls) + "\n</urlset>\n"
    )
    return Response(body, media_type="application/xml", headers=PUBLIC_CACHE)


@router.get(PREFIX + "/{lang}")
async def home(request: Request, lang: str, uow: Uow) -> Response:
    language = language_of(lang)
    categories = await kb.list_categories(uow, language=language)
    popular = await kb.popular_articles(uow, language, limit=8)
    links = await help_links(uow, language)
    return page(
        request,
        language,
        "portal/home.html",
        categories=categories,
        popular=popular,
        links=links,
        canonical=f"{PREFIX}/{language}",
        description=_("Answers to common questions: orders, delivery, returns and payment."),
        headers=PUBLIC_CACHE,
    )


@router.get(PREFIX + "/{lang}/categories/{slug}")
async def category_page(request: Request, lang: str, slug: str, uow: Uow) -> Response:
    language = language_of(lang)
    category, sections, _none = await _taxon(uow, language, slug, section=False)
    articles, _cursor = await kb.list_published(uow, language, category_id=category.id, limit=500)
    by_section: dict[int | None, list[KbArticle]] = {}
    for article in articles:
        by_section.setdefault(article.section_id, []).append(article)
    other = "en" if language == "ru" else "ru"
    return page(
        request,
        language,
        "portal/category.html",
        category=category,
        sections=sections,
        by_section=by_section,
        canonical=f"{PREFIX}/{language}/categories/{category.slug}",
        switch_url=f"{PREFIX}/{other}/categories/{category.slug}" if category.title.get(other) else None,
        description=category.description.get(language) or category.title.get(language, ""),
        headers=PUBLIC_CACHE,
    )


@router.get(PREFIX + "/{lang}/sections/{slug}")
async def section_page(request: Request, lang: str, slug: str, uow: Uow) -> Response:
    language = language_of(lang)
    category, _sections, section = await _taxon(uow, language, slug, section=True)
    assert section is not None
    articles, _cursor = await kb.list_published(uow, language, section_id=section.id, limit=500)
    other = "en" if language == "ru" else "ru"
    return page(
        request,
        language,
        "portal/section.html",
        category=category,
        section=section,
        articles=articles,
        canonical=f"{PREFIX}/{language}/sections/{section.slug}",
        switch_url=f"{PREFIX}/{other}/sections/{section.slug}" if section.title.get(other) else None,
        description=section.description.get(language) or section.title.get(language, ""),
        headers=PUBLIC_CACHE,
    )


def _description(article: KbArticle) -> str:
    text = " ".join(article.body_text.split())
    return text if len(text) <= 160 else text[:157].rsplit(" ", 1)[0] + "…"


@router.get(PREFIX + "/{lang}/articles/{slug}")
async def article_page(
    request: Request,
    lang: str,
    slug: str,
    uow: Uow,
    s: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """``s`` is the search the visitor came from: opening a result is reported as its click."""
    language = language_of(lang)
    article = await kb.public_article(uow, language, slug[:120])
    if s.isdigit():
        # A stale or foreign search id only loses a statistic, never the page.
        with suppress(AppError):
            await search.record_click(uow, int(s), article.id)
    related = await kb.public_related(uow, article)
    translations = await kb.translations_of(uow, article, public=True)
    section = category = None
    if article.section_id is not None:
        for cat, sections in await kb.list_categories(uow, language=language):
            for item in sections:
                if item.id == article.section_id:
                    category, section = cat, item
    links = await help_links(uow, language)
    switch = next((article_url(t) for t in translations), None)
    return page(
        request,
        language,
        "portal/article.html",
        article=article,
        related=related,
        translations=translations,
        category=category,
        section=section,
        links=links,
        canonical=article_url(article),
        switch_url=switch,
        description=_description(article),
        # Back from a vote sent without JavaScript: say thank you instead of asking again.
        voted=request.query_params.get("voted")
        if request.query_params.get("voted") in ("yes", "no")
        else None,
        headers={"Cache-Control": "no-cache"},
    )


@router.post(PREFIX + "/{lang}/articles/{slug}/vote")
async def vote(
    request: Request,
    lang: str,
    slug: str,
    uow: Uow,
    helpful: Annotated[str, Form(max_length=5)] = "",
    comment: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    """An anonymous vote: no session to protect, but only our own pages may send it."""
    language = language_of(lang)
    same_origin(request)
    article = await kb.public_article(uow, language, slug[:120], count_view=False)
    if helpful not in ("yes", "no"):
        return page(
            request,
            language,
            "portal/article.html",
            block="vote",
            article=article,
            voted=None,
            vote_error=_("Choose “Yes” or “No”."),
            status_code=422,
        )
    if len(comment.strip()) > 2000:
        return page(
            request,
            language,
            "portal/article.html",
            block="vote",
            article=article,
            voted=None,
            vote_error=_("A comment is at most 2000 characters."),
            comment=comment,
            status_code=422,
        )
    await kb.vote(uow, article.id, helpful=helpful == "yes", comment=comment[:2000])
    if request.headers.get("hx-request") == "true":
        return page(request, language, "portal/article.html", block="vote", article=article, voted=helpful)
    return RedirectResponse(f"{article_url(article)}?voted={helpful}", status_code=303)


@router.get(PREFIX + "/{lang}/search")
async def search_page(request: Request, lang: str, uow: Uow, q: Q = "") -> Response:
    language = language_of(lang)
    text = q.strip()
    result = await search.search(uow, text, scope=search.public_scope(language), limit=20, source="portal")
    links = await help_links(uow, language)
    return page(
        request,
        language,
        "portal/search.html",
        q=text,
        result=result,
        links=links,
        canonical=f"{PREFIX}/{language}/search",
        switch_url=f"{PREFIX}/{'en' if language == 'ru' else 'ru'}/search?q={quote(text)}" if text else None,
        description=_("Search the help centre."),
        # Result pages are endless and thin: keep them out of search engines.
        noindex=True,
        headers={"Cache-Control": "no-store"},
    )


@router.get(PREFIX + "/{lang}/suggest")
async def suggest(request: Request, lang: str, uow: Uow, q: Q = "") -> Response:
    """The list under the search box while the visitor types (htmx, debounced)."""
    language = language_of(lang)
    result = await search.suggest_for_widget(uow, q.strip(), language=language, limit=6)
    return page(
        request,
        language,
        "portal/_suggestions.html",
        q=q.strip(),
        result=result,
        headers={"Cache-Control": "no-store"},
    )
