"""Quality pages: bad ratings to follow up, conversation reviews, scorecards, the agent's own
reviews. Supervisors and admins review; admins set scorecards; an agent sees only its own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from opora.agents import repository as agents_repo
from opora.auth.deps import Uow
from opora.kit.errors import AppError, Forbidden
from opora.quality import repository as quality_repo
from opora.quality import service as quality_service
from opora.quality.models import ReviewStatus
from opora.quality.schemas import ReviewComplete, SampleIn, ScorecardIn, ScorecardUpdate
from opora.surveys import repository as surveys_repo
from opora.surveys import service as surveys_service
from opora.surveys.schemas import SettingsIn
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, recover, text
from opora.web.ui.deps import AdminViewer, Viewer, ViewerDep

router = APIRouter(include_in_schema=False)

FOLLOW_UPS = 20
CONVERSATION = 6


async def supervisor_viewer(viewer: ViewerDep) -> Viewer:
    if not viewer.principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins may do this.")
    return viewer


SupervisorViewer = Annotated[Viewer, Depends(supervisor_viewer)]


def nav(viewer: Viewer) -> list[tuple[str, str, str]]:
    items = [("overview", "/quality", _("Overview"))]
    if viewer.principal.sees_all_tickets:
        items.append(("reviews", "/quality/reviews", _("Reviews")))
    else:
        items.append(("reviews", "/quality/reviews", _("My reviews")))
    if viewer.principal.is_admin:
        items.append(("scorecards", "/quality/scorecards", _("Scorecards")))
        items.append(("settings", "/quality/settings", _("Survey settings")))
    return items


def page(viewer: Viewer, active: str, **extra: Any) -> dict[str, Any]:
    notices = {
        "saved": _("Saved."),
        "created": _("Created."),
        "sampled": _("Conversations picked for review."),
    }
    return {
        "viewer": viewer,
        "section": "quality",
        "nav": nav(viewer),
        "active": active,
        "notices": notices,
        **extra,
    }


async def _agent_names(uow: Uow) -> dict[int, str]:
    return {a.id: a.name for a in await agents_repo.list_agents(uow.session, limit=1000, after_id=None)}


@router.get("/quality")
async def overview(request: Request, uow: Uow, viewer: ViewerDep, done: str = "") -> Response:
    if not viewer.principal.sees_all_tickets:
        return RedirectResponse("/quality/reviews", status_code=303)
    follow_ups = await surveys_repo.list_answered(
        uow.session, max_rating=None, follow_up="open", agent_id=None, limit=FOLLOW_UPS, before_id=None
    )
    recent = await surveys_repo.list_answered(
        uow.session, max_rating=None, follow_up=None, agent_id=None, limit=20, before_id=None
    )
    context = page(
        viewer,
        "overview",
        follow_ups=follow_ups,
        conversations=await surveys_repo.conversations(
            uow.session, [s.ticket_id for s in follow_ups], per_ticket=CONVERSATION
        ),
        recent=recent,
        names=await _agent_names(uow),
        scorecards=await quality_repo.list_scorecards(uow.session, active_only=True),
        done=done,
    )
    return render(request, "ui/quality/overview.html", context)


@router.post("/quality/follow-ups/{survey_id}/done")
async def follow_up_done(survey_id: int, uow: Uow, viewer: SupervisorViewer) -> Response:
    await surveys_service.close_follow_up(uow, viewer.principal, survey_id)
    return RedirectResponse("/quality?done=saved", status_code=303)


@router.post("/quality/surveys/{survey_id}/reply")
async def survey_reply(
    survey_id: int, uow: Uow, viewer: ViewerDep, kind: Annotated[str, Form(max_length=10)] = ""
) -> Response:
    """The "thank you" / "sorry" reply from the rating panel of the ticket page."""
    if not viewer.principal.can_write:
        raise Forbidden("This account is read-only.")
    message = await surveys_service.send_reply(uow, viewer.principal, survey_id, kind)
    return RedirectResponse(f"/tickets/{message.ticket_id}", status_code=303)


@router.post("/quality/sample")
async def sample(request: Request, uow: Uow, viewer: SupervisorViewer) -> Response:
    form = await request.form()
    raw = {
        "scorecard_id": text(form, "scorecard_id"),
        "count": text(form, "count") or "5",
        "agent_id": text(form, "agent_id") or None,
        "max_rating": text(form, "max_rating") or None,
    }
    try:
        data = SampleIn.model_validate(raw)
    except ValidationError:
        return RedirectResponse("/quality/reviews?error=sample", status_code=303)
    await quality_service.sample(uow, viewer.principal, data)
    return RedirectResponse("/quality/reviews?status=pending&done=sampled", status_code=303)


@router.get("/quality/reviews")
async def reviews(
    request: Request, uow: Uow, viewer: ViewerDep, status: str = "", done: str = "", error: str = ""
) -> Response:
    wanted = status if status in (ReviewStatus.PENDING, ReviewStatus.DONE) else None
    rows = await quality_service.list_reviews(uow, viewer.principal, status=wanted, limit=100)
    trend = await quality_service.agent_scores(
        uow, viewer.principal, viewer.agent.id, period="month", since=None
    )
    context = page(
        viewer,
        "reviews",
        reviews=rows,
        status=wanted or "",
        names=await _agent_names(uow),
        agents=[
            a for a in await agents_repo.list_agents(uow.session, limit=1000, after_id=None) if a.is_active
        ],
        scorecards=await quality_repo.list_scorecards(uow.session, active_only=True),
        cards={c.id: c.name for c in await quality_repo.list_scorecards(uow.session)},
        trend=trend,
        done=done,
        error=error,
    )
    return render(request, "ui/quality/reviews.html", context)


@router.get("/quality/reviews/{review_id}")
async def review_page(request: Request, review_id: int, uow: Uow, viewer: ViewerDep) -> Response:
    review = await quality_service.get_review(uow, viewer.principal, review_id)
    return await _review_form(request, uow, viewer, review_id, review.scores, review.comment, {})


async def _review_form(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    review_id: int,
    scores: dict[str, Any],
    comment: str,
    errors: Errors,
    status_code: int = 200,
) -> Response:
    review = await quality_service.get_review(uow, viewer.principal, review_id)
    card = await quality_repo.get_scorecard(uow.session, review.scorecard_id)
    criteria = (
        card.criteria if card is not None and review.status == ReviewStatus.PENDING else review.criteria
    )
    context = page(
        viewer,
        "reviews",
        review=review,
        criteria=criteria,
        card_name=card.name if card else "",
        scores=scores,
        comment=comment,
        errors=errors,
        names=await _agent_names(uow),
        conversation=(await surveys_repo.conversations(uow.session, [review.ticket_id], per_ticket=50))[
            review.ticket_id
        ],
        editable=viewer.principal.sees_all_tickets and review.agent_id != viewer.agent.id,
    )
    return render(request, "ui/quality/review.html", context, status_code=status_code)


@router.post("/quality/reviews/{review_id}")
async def review_save(request: Request, review_id: int, uow: Uow, viewer: SupervisorViewer) -> Response:
    form = await request.form()
    review = await quality_service.get_review(uow, viewer.principal, review_id)
    scores: dict[str, Any] = {}
    for criterion in review.criteria or []:
        value = text(form, f"score_{criterion['key']}")
        scores[criterion["key"]] = int(value) if value.isdigit() else None
    comment = text(form, "comment")
    try:
        await quality_service.complete_review(
            uow, viewer.principal, review_id, ReviewComplete(scores=scores, comment=comment[:10_000])
        )
    except AppError as exc:
        await recover(uow, viewer)
        return await _review_form(
            request,
            uow,
            viewer,
            review_id,
            scores,
            comment,
            {"scores": exc.message},
            status_code=exc.status_code,
        )
    return RedirectResponse("/quality/reviews?done=saved", status_code=303)


def _criteria_text(criteria: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['key']} | {c['label']} | {c['weight']}" for c in criteria)


def _parse_criteria(raw: str) -> list[dict[str, Any]]:
    """One criterion per line: ``key | label | weight``."""
    result: list[dict[str, Any]] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        weight = parts[2] if len(parts) > 2 else ""
        result.append(
            {
                "key": parts[0],
                "label": parts[1] if len(parts) > 1 else "",
                "weight": int(weight) if weight.isdigit() and len(weight) < 6 else 0,
            }
        )
    return result


@router.get("/quality/scorecards")
async def scorecards(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    context = page(
        viewer, "scorecards", scorecards=await quality_repo.list_scorecards(uow.session), done=done
    )
    return render(request, "ui/quality/scorecards.html", context)


async def _card_form(
    request: Request,
    viewer: Viewer,
    card_id: int | None,
    values: dict[str, Any],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    context = page(viewer, "scorecards", card_id=card_id, values=values, errors=errors)
    return render(request, "ui/quality/scorecard_form.html", context, status_code=status_code)


DEFAULT_CRITERIA = "greeting | Greeting | 10\nempathy | Empathy | 20\naccuracy | Accuracy | 30\ntone | Tone | 20\nresolution | Resolution | 20"


@router.get("/quality/scorecards/new")
async def scorecard_new(request: Request, viewer: AdminViewer) -> Response:
    values = {"name": "", "description": "", "is_active": True, "criteria": DEFAULT_CRITERIA}
    return await _card_form(request, viewer, None, values, {})


@router.get("/quality/scorecards/{card_id}")
async def scorecard_edit(request: Request, card_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    card = await quality_service.get_scorecard(uow, card_id)
    values = {
        "name": card.name,
        "description": card.description,
        "is_active": card.is_active,
        "criteria": _criteria_text(card.criteria),
    }
    return await _card_form(request, viewer, card_id, values, {})


@router.post("/quality/scorecards/new")
async def scorecard_create(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    return await _save_card(request, uow, viewer, None)


@router.post("/quality/scorecards/{card_id}")
async def scorecard_update(request: Request, card_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    return await _save_card(request, uow, viewer, card_id)


async def _save_card(request: Request, uow: Uow, viewer: Viewer, card_id: int | None) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "is_active": "is_active" in form,
        "criteria": text(form, "criteria"),
    }
    body = {**values, "criteria": _parse_criteria(values["criteria"])}
    errors: Errors = {}
    status_code = 422
    try:
        if card_id is None:
            await quality_service.create_scorecard(uow, viewer.principal, ScorecardIn.model_validate(body))
        else:
            await quality_service.update_scorecard(
                uow, viewer.principal, card_id, ScorecardUpdate.model_validate(body)
            )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "name"
        errors[field if field in ("name", "description") else "criteria"] = _("Check this value.")
    except AppError as exc:
        errors["criteria" if (exc.field or "").startswith("criteria") else "name"] = exc.message
        status_code = exc.status_code
    if errors:
        await recover(uow, viewer)
        return await _card_form(request, viewer, card_id, values, errors, status_code)
    return RedirectResponse(
        f"/quality/scorecards?done={'created' if card_id is None else 'saved'}", status_code=303
    )


@router.get("/quality/settings")
async def survey_settings(request: Request, uow: Uow, viewer: AdminViewer, done: str = "") -> Response:
    settings = await surveys_service.get_settings(uow)
    values = _settings_values(settings)
    return render(
        request, "ui/quality/settings.html", page(viewer, "settings", values=values, errors={}, done=done)
    )


def _settings_values(settings: surveys_service.SurveySettings) -> dict[str, Any]:
    values: dict[str, Any] = {
        "enabled": settings.enabled,
        "delay_minutes": str(settings.delay_minutes),
        "link_valid_days": str(settings.link_valid_days),
    }
    for lang in ("ru", "en"):
        values[f"survey_{lang}"] = settings.survey_text(lang)
        for kind in surveys_service.REPLY_KINDS:
            values[f"{kind}_{lang}"] = settings.reply_text(kind, lang)
    return values


@router.post("/quality/settings")
async def survey_settings_save(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        key: text(form, key) for key in _settings_values(surveys_service.SurveySettings())
    }
    values["enabled"] = "enabled" in form
    errors: Errors = {}
    status_code = 422
    try:
        data = SettingsIn.model_validate(
            {
                "enabled": values["enabled"],
                "delay_minutes": values["delay_minutes"],
                "link_valid_days": values["link_valid_days"],
                "survey_texts": {lang: values[f"survey_{lang}"] for lang in ("ru", "en")},
                "reply_texts": {
                    kind: {lang: values[f"{kind}_{lang}"] for lang in ("ru", "en")}
                    for kind in surveys_service.REPLY_KINDS
                },
            }
        )
        await surveys_service.update_settings(uow, data.model_dump(exclude_unset=True))
    except ValidationError as exc:
        for item in exc.errors():
            field = str(item["loc"][0]) if item.get("loc") else ""
            errors[field] = _("Check this value.")
    except AppError as exc:
        errors[(exc.field or "").split(".")[0]] = exc.message
        status_code = exc.status_code
    if errors:
        await recover(uow, viewer)
        context = page(viewer, "settings", values=values, errors=errors)
        return render(request, "ui/quality/settings.html", context, status_code=status_code)
    return RedirectResponse("/quality/settings?done=saved", status_code=303)
