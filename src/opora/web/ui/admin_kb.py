"""Knowledge-base screens of the workspace: the article list, the editor with a live preview,
publishing, and the version history with restore.

Anyone signed in reads; agents write drafts and internal articles; publishing, archiving and
editing what visitors read is for supervisors and admins. Those rules live in ``opora.kb.service``;
a refusal from it is shown beside the form and, as a 4xx answer, changes nothing (ADR 0002).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.kb import markdown
from opora.kb import service as kb
from opora.kb.models import ArticleKind, ArticleStatus, KbArticle
from opora.kb.repository import ArticleFilter
from opora.kb.schemas import MAX_BODY, ArticleCreate, ArticleUpdate
from opora.kit.errors import AppError, InvalidInput
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui import repository as ui_repository
from opora.web.ui.admin_common import Errors, from_refusal, from_validation, notices, recover, text
from opora.web.ui.deps import Viewer, ViewerDep, WriterViewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
BASE = "/admin/kb"
STATUSES = tuple(s.value for s in ArticleStatus)


def kb_nav(viewer: Viewer) -> list[tuple[str, str, str]]:
    """(key, url, label) of the knowledge base's side menu; the admin-only screens for admins."""
    items = [
        ("articles", f"{BASE}/articles", _("Articles")),
        ("new", f"{BASE}/articles/new", _("New article")),
    ]
    if viewer.principal.is_admin:
        items += [
            ("taxonomy", f"{BASE}/categories", _("Categories and sections")),
            ("synonyms", f"{BASE}/synonyms", _("Synonyms")),
            ("gaps", f"{BASE}/gaps", _("Content gaps")),
        ]
    return items


def kb_page(viewer: Viewer, active: str, **extra: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "section": "kb",
        "nav": kb_nav(viewer),
        "active": active,
        "notices": {**notices(), "published": _("Published."), "restored": _("Version restored.")},
        "can_publish": kb.can_change_public(viewer.principal),
        **extra,
    }


def status_label(value: str) -> str:
    return {"draft": _("Draft"), "published": _("Published"), "archived": _("Archived")}.get(value, value)


async def _sections(uow: Uow) -> list[tuple[int, str]]:
    """(section id, "Category › Section") for the pickers, in either language the admin wrote."""
    out = []
    for category, sections in await kb.list_categories(uow):
        cat = category.title.get("ru") or category.title.get("en") or category.slug
        for section in sections:
            out.append(
                (section.id, f"{cat} › {section.title.get('ru') or section.title.get('en') or section.slug}")
            )
    return out


@router.get(BASE)
async def kb_home(_viewer: ViewerDep) -> Response:
    return RedirectResponse(f"{BASE}/articles", status_code=303)


@router.get(f"{BASE}/articles")
async def articles_list(
    request: Request,
    uow: Uow,
    viewer: ViewerDep,
    status: Annotated[str, Query(max_length=20)] = "",
    language: Annotated[str, Query(max_length=5)] = "",
    category: Annotated[str, Query(max_length=19)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: str = "",
) -> Response:
    filters = {
        "status": status if status in STATUSES else "",
        "language": language if language in ("ru", "en") else "",
        "category": category if category.isdigit() else "",
    }
    f = ArticleFilter(
        language=filters["language"] or None,
        statuses=(filters["status"],) if filters["status"] else None,
        category_id=int(filters["category"]) if filters["category"] else None,
    )
    rows, next_cursor = await kb.list_articles(uow, f, limit=PAGE_SIZE, cursor=cursor)
    categories = await kb.list_categories(uow)
    section_names = dict(await _sections(uow))
    context = kb_page(
        viewer,
        "articles",
        articles=rows,
        next_cursor=next_cursor,
        filters=filters,
        categories=categories,
        section_names=section_names,
        status_label=status_label,
        done=done,
    )
    return render(request, "ui/kb/articles.html", context)


def _messages() -> dict[str, str]:
    return {
        "title": _("Enter a title of up to 300 characters."),
        "body_md": _("The text is too long."),
        "slug": _("A slug is Latin letters and digits joined by '-', e.g. return-policy; it must be unique."),
        "language": _("Choose a language from the list."),
        "section_id": _("Choose a section from the list."),
        "kind": _("Choose a kind from the list."),
        "tags": _("Up to 30 tags of up to 50 characters each."),
        "related_ids": _("Related articles are up to 20 article numbers separated by commas."),
        "position": _("The position is a whole number."),
        "note": _("A note is at most 300 characters."),
        "translation_of": _("Choose an existing article in the other language."),
    }


def _values(form: FormData) -> dict[str, Any]:
    body = form.get("body_md")
    return {
        "language": text(form, "language"),
        "title": text(form, "title"),
        "body_md": body if isinstance(body, str) else "",
        "section_id": text(form, "section_id"),
        "kind": text(form, "kind") or ArticleKind.ARTICLE.value,
        "slug": text(form, "slug"),
        "internal": "internal" in form,
        "tags": text(form, "tags"),
        "related_ids": text(form, "related_ids"),
        "position": text(form, "position") or "0",
        "note": text(form, "note"),
        "translation_of": text(form, "translation_of"),
    }


def _parsed(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """Form text → the schema's shape; pydantic then says what is wrong, field by field."""
    data: dict[str, Any] = {
        "title": values["title"],
        "body_md": values["body_md"],
        "section_id": values["section_id"] or None,
        "kind": values["kind"],
        "internal": values["internal"],
        "tags": [t.strip() for t in values["tags"].replace(";", ",").split(",") if t.strip()],
        "related_ids": [r.strip().lstrip("#") for r in values["related_ids"].split(",") if r.strip()],
        "position": values["position"],
        "note": values["note"],
    }
    if values["slug"] or create:
        data["slug"] = values["slug"] or None
    if create:
        data["language"] = values["language"]
        data["translation_of"] = values["translation_of"] or None
    return data


async def _form_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    article: KbArticle | None,
    values: dict[str, Any],
    errors: Errors,
    status_code: int = 200,
    done: str = "",
) -> Response:
    translations = await kb.translations_of(uow, article, public=False) if article is not None else []
    context = kb_page(
        viewer,
        "new" if article is None else "articles",
        article=article,
        values=values,
        errors=errors,
        sections=await _sections(uow),
        kinds=[k.value for k in ArticleKind],
        preview_html=markdown.render(values["body_md"]),
        max_body=MAX_BODY,
        translations=translations,
        status_label=status_label,
        done=done,
    )
    return render(request, "ui/kb/article_form.html", context, status_code=status_code)


def _article_values(article: KbArticle) -> dict[str, Any]:
    return {
        "language": article.language,
        "title": article.title,
        "body_md": article.body_md,
        "section_id": str(article.section_id or ""),
        "kind": article.kind,
        "slug": article.slug,
        "internal": article.internal,
        "tags": ", ".join(article.tags),
        "related_ids": ", ".join(str(i) for i in article.related_ids),
        "position": str(article.position),
        "note": "",
        "translation_of": "",
    }


@router.get(f"{BASE}/articles/new")
async def article_new(
    request: Request,
    uow: Uow,
    viewer: ViewerDep,
    translation_of: Annotated[str, Query(max_length=19)] = "",
) -> Response:
    values: dict[str, Any] = {
        "language": viewer.language,
        "title": "",
        "body_md": "",
        "section_id": "",
        "kind": ArticleKind.ARTICLE.value,
        "slug": "",
        "internal": False,
        "tags": "",
        "related_ids": "",
        "position": "0",
        "note": "",
        "translation_of": "",
    }
    if translation_of.isdigit():
        source = await kb.get_article(uow, int(translation_of))
        values.update(
            language="en" if source.language == "ru" else "ru",
            translation_of=str(source.id),
            section_id=str(source.section_id or ""),
            kind=source.kind,
            internal=source.internal,
        )
    return await _form_page(request, uow, viewer, article=None, values=values, errors={})


@router.post(f"{BASE}/preview")
async def article_preview(
    request: Request, viewer: ViewerDep, body_md: Annotated[str, Form(max_length=MAX_BODY)] = ""
) -> Response:
    """The rendered, sanitised body alone, refreshed while the author types (htmx)."""
    context = kb_page(viewer, "articles", preview_html=markdown.render(body_md))
    return render(request, "ui/kb/article_form.html", context, block="preview")


async def _refused(uow: Uow, viewer: Viewer, exc: AppError | ValidationError) -> tuple[Errors, int]:
    await recover(uow, viewer)
    if isinstance(exc, ValidationError):
        return from_validation(exc, _messages()), 422
    return from_refusal(exc, _messages() if exc.status_code == 422 else {}), exc.status_code


@router.post(f"{BASE}/articles")
async def article_create(request: Request, uow: Uow, viewer: WriterViewer) -> Response:
    values = _values(await request.form())
    try:
        data = ArticleCreate.model_validate(_parsed(values, create=True))
        article = await kb.create_article(uow, viewer.principal, data)
    except (ValidationError, AppError) as exc:
        errors, status_code = await _refused(uow, viewer, exc)
        return await _form_page(
            request, uow, viewer, article=None, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse(f"{BASE}/articles/{article.id}?done=created", status_code=303)


@router.get(f"{BASE}/articles/{{article_id}}")
async def article_edit(
    request: Request, article_id: int, uow: Uow, viewer: ViewerDep, done: str = ""
) -> Response:
    article = await kb.get_article(uow, article_id)
    return await _form_page(
        request, uow, viewer, article=article, values=_article_values(article), errors={}, done=done
    )


@router.post(f"{BASE}/articles/{{article_id}}")
async def article_update(request: Request, article_id: int, uow: Uow, viewer: WriterViewer) -> Response:
    article = await kb.get_article(uow, article_id)
    values = {**_values(await request.form()), "language": article.language}
    try:
        data = ArticleUpdate.model_validate(_parsed(values, create=False))
        await kb.update_article(uow, viewer.principal, article_id, data)
    except (ValidationError, AppError) as exc:
        errors, status_code = await _refused(uow, viewer, exc)
        article = await kb.get_article(uow, article_id)
        return await _form_page(
            request, uow, viewer, article=article, values=values, errors=errors, status_code=status_code
        )
    return RedirectResponse(f"{BASE}/articles/{article_id}?done=saved", status_code=303)


@router.post(f"{BASE}/articles/{{article_id}}/status")
async def article_status(
    article_id: int,
    uow: Uow,
    viewer: WriterViewer,
    status: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if status not in STATUSES:
        raise InvalidInput("Choose published, draft or archived.", field="status")
    await kb.set_status(uow, viewer.principal, article_id, status, note.strip())
    done = "published" if status == ArticleStatus.PUBLISHED else "saved"
    return RedirectResponse(f"{BASE}/articles/{article_id}?done={done}", status_code=303)


@router.get(f"{BASE}/articles/{{article_id}}/versions")
async def article_versions(request: Request, article_id: int, uow: Uow, viewer: ViewerDep) -> Response:
    article = await kb.get_article(uow, article_id)
    versions = await kb.list_versions(uow, article_id)
    directory = await ui_repository.directory(uow.session)
    context = kb_page(
        viewer,
        "articles",
        article=article,
        versions=versions,
        directory=directory,
        status_label=status_label,
    )
    return render(request, "ui/kb/versions.html", context)


@router.post(f"{BASE}/articles/{{article_id}}/restore")
async def article_restore(
    article_id: int,
    uow: Uow,
    viewer: WriterViewer,
    version: Annotated[int, Form(ge=1, le=1_000_000)],
) -> Response:
    await kb.restore_version(uow, viewer.principal, article_id, version, "")
    return RedirectResponse(f"{BASE}/articles/{article_id}?done=restored", status_code=303)
