"""The customer's survey page: GET shows the 1–5 rating form, POST stores the one answer.

The signed link is the only credential; no session, so no CSRF token either (a forged cross-site
POST would need the link, and then it could as well be the customer). Nothing is stored unless
the link is genuine, unexpired and not answered yet.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from opora.auth.deps import RuntimeDep, Uow
from opora.kit.errors import AppError, Conflict, InvalidInput
from opora.surveys import service, tokens
from opora.surveys.models import SurveyStatus
from opora.web import i18n
from opora.web.templating import env

router = APIRouter(prefix="/survey", tags=["surveys"], include_in_schema=False)

Token = Annotated[str, Path(max_length=tokens.MAX_TOKEN_LENGTH)]


def _language(request: Request, fallback: str | None) -> str:
    return (
        i18n.normalise(request.query_params.get("lang"))
        or fallback
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.DEFAULT_LANGUAGE
    )


def _page(template: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
    with i18n.use_language(language):
        html = env.get_template(template).render(language=language, **context)
    # The token is in the URL: keep it out of other sites' Referer headers and of caches.
    headers = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _refused(request: Request, exc: AppError) -> HTMLResponse:
    language = _language(request, None)
    reason = "expired" if isinstance(exc, service.LinkExpired) else "unknown"
    return _page("surveys/gone.html", language, exc.status_code, reason=reason)


@router.get("/{token}", response_class=HTMLResponse)
async def survey_page(token: Token, request: Request, uow: Uow, runtime: RuntimeDep) -> HTMLResponse:
    key = tokens.link_key(runtime.settings.resolved_secret_key())
    try:
        survey = await service.open_survey(uow, key, token)
    except AppError as exc:
        return _refused(request, exc)
    language = _language(request, survey.language)
    if survey.status == SurveyStatus.ANSWERED:
        return _page("surveys/thanks.html", language, survey=survey, again=True)
    preset = request.query_params.get("rating", "")
    return _page(
        "surveys/survey.html",
        language,
        survey=survey,
        action=f"/survey/{token}?lang={language}",
        rating=int(preset) if preset in ("1", "2", "3", "4", "5") else None,
        comment="",
        error=None,
    )


@router.post("/{token}", response_class=HTMLResponse)
async def submit(token: Token, request: Request, uow: Uow, runtime: RuntimeDep) -> HTMLResponse:
    key = tokens.link_key(runtime.settings.resolved_secret_key())
    form = await request.form()
    raw_rating, raw_comment = form.get("rating"), form.get("comment")
    comment = raw_comment if isinstance(raw_comment, str) else ""
    rating = int(raw_rating) if isinstance(raw_rating, str) and raw_rating in ("1", "2", "3", "4", "5") else 0
    try:
        survey = await service.answer(uow, key, token, rating=rating, comment=comment)
    except Conflict:
        survey = await service.open_survey(uow, key, token)
        return _page(
            "surveys/thanks.html", _language(request, survey.language), 409, survey=survey, again=True
        )
    except InvalidInput:
        survey = await service.open_survey(uow, key, token)
        language = _language(request, survey.language)
        with i18n.use_language(language):
            error = i18n.gettext("Choose a rating from 1 to 5.")
        return _page(
            "surveys/survey.html",
            language,
            422,
            survey=survey,
            action=f"/survey/{token}?lang={language}",
            rating=None,
            comment=comment,
            error=error,
        )
    except AppError as exc:
        return _refused(request, exc)
    return _page("surveys/thanks.html", _language(request, survey.language), survey=survey, again=False)
