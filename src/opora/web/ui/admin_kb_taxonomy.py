"""Knowledge-base screens for admins: categories and sections, synonym groups, content gaps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.kb import service as kb
from opora.kb.models import KbCategory, KbSection
from opora.kb.schemas import CategoryIn, CategoryUpdate, SectionIn, SectionUpdate
from opora.kb.search import service as search
from opora.kit.errors import AppError
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, from_refusal, from_validation, recover, text
from opora.web.ui.admin_kb import BASE, kb_page
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)


def _messages() -> dict[str, str]:
    return {
        "slug": _("A slug is Latin letters and digits joined by '-', e.g. delivery; it must be unique."),
        "title": _("Give a title in Russian or English."),
        "description": _("A description is at most 2000 characters."),
        "position": _("The position is a whole number."),
        "category_id": _("Choose a category from the list."),
        "phrases": _("A synonym group needs at least two different words or phrases."),
    }


def _taxon_values(form: FormData) -> dict[str, Any]:
    return {
        "slug": text(form, "slug"),
        "title": {"ru": text(form, "title_ru"), "en": text(form, "title_en")},
        "description": {"ru": text(form, "description_ru"), "en": text(form, "description_en")},
        "position": text(form, "position") or "0",
        "category_id": text(form, "category_id"),
    }


def _taxon_data(values: dict[str, Any], *, section: bool) -> dict[str, Any]:
    data = {k: v for k, v in values.items() if k != "category_id"}
    data["title"] = {k: v for k, v in values["title"].items() if v}
    data["description"] = {k: v for k, v in values["description"].items() if v}
    if section:
        data["category_id"] = values["category_id"] or None
    return data


async def _taxonomy_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    errors: Errors | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    done: str = "",
) -> Response:
    context = kb_page(
        viewer,
        "taxonomy",
        categories=await kb.list_categories(uow),
        errors=errors or {},
        form=form,
        values=values or {},
        done=done,
    )
    return render(request, "ui/kb/taxonomy.html", context, status_code=status_code)


@router.get(f"{BASE}/categories")
async def taxonomy(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    return await _taxonomy_page(request, uow, viewer, done=done)


async def _refusal(uow: Uow, viewer: Viewer, exc: AppError | ValidationError) -> tuple[Errors, int]:
    await recover(uow, viewer)
    if isinstance(exc, ValidationError):
        return from_validation(exc, _messages()), 422
    return from_refusal(exc, _messages()), exc.status_code


@router.post(f"{BASE}/categories")
async def category_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values = _taxon_values(await request.form())
    try:
        await kb.create_category(uow, CategoryIn.model_validate(_taxon_data(values, section=False)))
    except (ValidationError, AppError) as exc:
        errors, code = await _refusal(uow, viewer, exc)
        return await _taxonomy_page(
            request, uow, viewer, errors=errors, form="category", values=values, status_code=code
        )
    return RedirectResponse(f"{BASE}/categories?done=created", status_code=303)


@router.post(f"{BASE}/sections")
async def section_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    values = _taxon_values(await request.form())
    try:
        await kb.create_section(uow, SectionIn.model_validate(_taxon_data(values, section=True)))
    except (ValidationError, AppError) as exc:
        errors, code = await _refusal(uow, viewer, exc)
        return await _taxonomy_page(
            request, uow, viewer, errors=errors, form="section", values=values, status_code=code
        )
    return RedirectResponse(f"{BASE}/categories?done=created", status_code=303)


@router.post(f"{BASE}/categories/{{taxon_id}}")
async def category_update(request: Request, taxon_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    return await _taxon_update(request, KbCategory, taxon_id, uow, viewer)


@router.post(f"{BASE}/sections/{{taxon_id}}")
async def section_update(request: Request, taxon_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    return await _taxon_update(request, KbSection, taxon_id, uow, viewer)


async def _taxon_update(
    request: Request, model: type[KbCategory] | type[KbSection], taxon_id: int, uow: Uow, viewer: Viewer
) -> Response:
    """Save the row's form, or delete the row when its delete button was pressed."""
    form = await request.form()
    if "delete" in form:
        await kb.delete_taxon(uow, model, taxon_id)
        return RedirectResponse(f"{BASE}/categories?done=deleted", status_code=303)
    values = _taxon_values(form)
    data = _taxon_data(values, section=model is KbSection)
    kind = "categories" if model is KbCategory else "sections"
    try:
        update = (
            CategoryUpdate.model_validate(data) if model is KbCategory else SectionUpdate.model_validate(data)
        )
        await kb.update_taxon(uow, model, taxon_id, update)
    except (ValidationError, AppError) as exc:
        if isinstance(exc, AppError) and exc.status_code == 404:
            raise
        errors, code = await _refusal(uow, viewer, exc)
        return await _taxonomy_page(
            request, uow, viewer, errors=errors, form=f"{kind}-{taxon_id}", values=values, status_code=code
        )
    return RedirectResponse(f"{BASE}/categories?done=saved", status_code=303)


# --- synonyms --------------------------------------------------------------------------------


def _phrases(form: FormData) -> list[str]:
    return [p.strip() for p in text(form, "phrases").replace("\n", ",").split(",") if p.strip()]


async def _synonyms_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    *,
    errors: Errors | None = None,
    form: str = "",
    given: str = "",
    status_code: int = 200,
    done: str = "",
) -> Response:
    context = kb_page(
        viewer,
        "synonyms",
        synonyms=await search.list_synonyms(uow),
        errors=errors or {},
        form=form,
        given=given,
        done=done,
    )
    return render(request, "ui/kb/synonyms.html", context, status_code=status_code)


@router.get(f"{BASE}/synonyms")
async def synonyms(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    return await _synonyms_page(request, uow, viewer, done=done)


@router.post(f"{BASE}/synonyms")
async def synonym_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    form = await request.form()
    try:
        await search.create_synonym(uow, viewer.principal, _phrases(form))
    except AppError as exc:
        errors, code = await _refusal(uow, viewer, exc)
        return await _synonyms_page(
            request, uow, viewer, errors=errors, form="new", given=text(form, "phrases"), status_code=code
        )
    return RedirectResponse(f"{BASE}/synonyms?done=created", status_code=303)


@router.post(f"{BASE}/synonyms/{{synonym_id}}")
async def synonym_update(request: Request, synonym_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    form = await request.form()
    if "delete" in form:
        await search.delete_synonym(uow, synonym_id)
        return RedirectResponse(f"{BASE}/synonyms?done=deleted", status_code=303)
    try:
        await search.update_synonym(uow, synonym_id, _phrases(form))
    except AppError as exc:
        if exc.status_code == 404:
            raise
        errors, code = await _refusal(uow, viewer, exc)
        return await _synonyms_page(
            request,
            uow,
            viewer,
            errors=errors,
            form=str(synonym_id),
            given=text(form, "phrases"),
            status_code=code,
        )
    return RedirectResponse(f"{BASE}/synonyms?done=saved", status_code=303)


# --- content gaps ----------------------------------------------------------------------------


@router.get(f"{BASE}/gaps")
async def gaps(
    request: Request,
    uow: Uow,
    viewer: AdminViewer,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    min_votes: Annotated[int, Query(ge=1, le=1000)] = 3,
) -> Response:
    context = kb_page(
        viewer,
        "gaps",
        days=days,
        min_votes=min_votes,
        searches=await kb.search_gaps(uow, days=days, limit=100),
        unhelpful=await kb.unhelpful_articles(uow, min_votes=min_votes, limit=50),
    )
    return render(request, "ui/kb/gaps.html", context)
