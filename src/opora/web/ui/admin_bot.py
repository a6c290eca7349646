"""Admin screens of the FAQ bot, one language at a time: how the active model does on held-out
phrases, the accepted share of wrong answers, retraining and going back to a stored version, a
probe that shows what the bot would do with a message, and the intents with their phrases.

Everything is written through ``opora.bot.service``, the same calls as /api/v1/bot, so a form
refused here is refused there for the same reason and changes nothing (ADR 0002).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from opora.auth.deps import Uow
from opora.bot import calibration, service
from opora.bot import repository as repo
from opora.bot.engine import Prediction
from opora.bot.models import OUT_OF_SCOPE, BotModel, ModelStatus
from opora.bot.schemas import MAX_EXAMPLES, IntentCreate, IntentUpdate, SettingsIn
from opora.jobs import repository as jobs_repo
from opora.kit.errors import AppError, NotFound
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui.admin_common import Errors, checked, page, recover, text
from opora.web.ui.admin_routing import Attempt
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

LANGUAGES = ("ru", "en")
VERSIONS_SHOWN = 10
# Cross-validation holds out a fifth of each intent's phrases: with fewer than ten, an intent has
# one or two phrases in a fold, and its own accuracy says little.
FEW_PHRASES = 10
PROBE_MAX = 4000


def _language(raw: str) -> str:
    if raw not in LANGUAGES:
        raise NotFound(f"The bot speaks {', '.join(LANGUAGES)}, not {raw!r}.")
    return raw


@dataclass(frozen=True, slots=True)
class Quality:
    """The active version's held-out figures as the page shows them (shares as percentages)."""

    version: int
    held_out: int
    accuracy: float | None
    answered: float | None
    wrong: float | None
    wrong_bound: float | None
    oos_recall: float | None
    limit: float
    never_answers: bool
    needed: int


def _percent(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return round(float(value) * 100, 1) if isinstance(value, int | float) else None


def quality(model: BotModel) -> Quality:
    metrics = model.metrics or {}
    held_out = metrics.get("held_out")
    return Quality(
        version=model.id,
        held_out=int(held_out) if isinstance(held_out, int | float) else 0,
        accuracy=_percent(metrics, "accuracy"),
        answered=_percent(metrics, "answered"),
        wrong=_percent(metrics, "wrong"),
        wrong_bound=_percent(metrics, "wrong_bound"),
        oos_recall=_percent(metrics, "oos_recall"),
        limit=round(model.max_wrong_rate * 100, 1),
        never_answers=model.threshold is None or model.threshold > 1.0,
        needed=calibration.fewest_to_prove(model.max_wrong_rate),
    )


async def _overview(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    language: str,
    *,
    done: str = "",
    limit: str | None = None,
    errors: Errors | None = None,
    probe: tuple[str, Prediction] | None = None,
    status_code: int = 200,
) -> Response:
    session = uow.session
    intents = list(await repo.list_intents(session, language))
    examples = await repo.examples_of(session, [i.id for i in intents])
    versions = list(await repo.list_models(session, language, VERSIONS_SHOWN))
    head = await repo.active_model_head(session, language)
    active = await repo.get_model(session, head[0]) if head else None
    settings = await service.get_settings(uow, language)
    queued = await jobs_repo.has_active_with_key(session, f"{service.TRAIN_TASK}:{language}", other_than=0)
    context = page(
        viewer,
        "bot",
        language=language,
        languages=LANGUAGES,
        intents=[(i, len(examples[i.id])) for i in intents],
        oos_key=OUT_OF_SCOPE,
        few=FEW_PHRASES,
        versions=versions,
        quality=quality(active) if active is not None else None,
        latest=versions[0] if versions else None,
        limit=limit if limit is not None else f"{settings.max_wrong_rate * 100:g}",
        queued=queued,
        errors=errors or {},
        probe=probe,
        done=done,
        statuses=ModelStatus,
    )
    return render(request, "ui/admin/bot.html", context, status_code=status_code)


@router.get("/admin/bot")
async def bot_page(
    request: Request, uow: Uow, viewer: AdminViewer, language: str = "ru", done: str = ""
) -> Response:
    return await _overview(request, uow, viewer, _language(language), done=done)


@router.post("/admin/bot/{language}/settings")
async def bot_settings(
    request: Request,
    language: str,
    uow: Uow,
    viewer: AdminViewer,
    max_wrong_percent: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The largest share of wrong answers accepted, typed in percent; saving retrains."""
    language = _language(language)
    attempt = Attempt(uow, viewer, {"max_wrong_rate": _("Enter a share above 0% and at most 50%.")})
    raw = max_wrong_percent.strip().replace(",", ".")
    try:
        rate: Any = float(raw) / 100
    except ValueError:
        rate = raw  # the shape refuses it, so the message is the same as for 70%
    await attempt.run(
        SettingsIn, {"max_wrong_rate": rate}, lambda d: service.set_settings(uow, language, d.max_wrong_rate)
    )
    if attempt.errors:
        return await _overview(
            request,
            uow,
            viewer,
            language,
            limit=max_wrong_percent,
            errors=attempt.errors,
            status_code=attempt.status_code,
        )
    return RedirectResponse(f"/admin/bot?language={language}&done=saved", status_code=303)


@router.post("/admin/bot/{language}/train")
async def bot_train(language: str, uow: Uow, viewer: AdminViewer) -> Response:
    await service.schedule_training(uow, _language(language), delay=timedelta(0))
    return RedirectResponse(f"/admin/bot?language={language}&done=training", status_code=303)


@router.post("/admin/bot/{language}/starter")
async def bot_starter(request: Request, language: str, uow: Uow, viewer: AdminViewer) -> Response:
    language = _language(language)
    try:
        await service.load_starter(uow, language)
    except AppError:
        await recover(uow, viewer)
        problem = _("The bot already has intents in this language; edit them instead.")
        return await _overview(request, uow, viewer, language, errors={"starter": problem}, status_code=409)
    return RedirectResponse(f"/admin/bot?language={language}&done=created", status_code=303)


@router.post("/admin/bot/versions/{model_id}/activate")
async def bot_activate(request: Request, model_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    version = await repo.get_model(uow.session, model_id)
    if version is None:
        raise NotFound(f"Model version {model_id} not found.")
    language = version.language
    try:
        await service.activate(uow, model_id)
    except AppError:
        await recover(uow, viewer)
        problem = _("This version has no trained model to use.")
        return await _overview(request, uow, viewer, language, errors={"versions": problem}, status_code=422)
    return RedirectResponse(f"/admin/bot?language={language}&done=activated", status_code=303)


@router.post("/admin/bot/{language}/try")
async def bot_try(
    request: Request,
    language: str,
    uow: Uow,
    viewer: AdminViewer,
    message: Annotated[str, Form(max_length=PROBE_MAX)] = "",
) -> Response:
    """What the active version would do with one message; nothing is stored."""
    language = _language(language)
    if not message.strip():
        errors = {"message": _("Type a message a customer might send.")}
        return await _overview(request, uow, viewer, language, errors=errors, status_code=422)
    prediction = await service.classify(uow, message.strip(), language)
    return await _overview(request, uow, viewer, language, probe=(message.strip(), prediction))


# -- one intent ------------------------------------------------------------------------------------


def _messages() -> dict[str, str]:
    return {
        "key": _(
            "A key is 2 to 60 characters: lower-case Latin letters, digits and '_', starting with a letter."
        ),
        "title": _("Enter a title of up to 200 characters."),
        "reply": _("The reply is at most 5,000 characters."),
        "kb_article_id": _("Give the number of an existing knowledge-base article, or leave it empty."),
        "examples": _("Up to {count} phrases of up to 500 characters each, one per line.").format(
            count=MAX_EXAMPLES
        ),
    }


def _values(form: FormData, language: str) -> dict[str, Any]:
    article = text(form, "kb_article_id")
    raw_examples = form.get("examples")
    lines = raw_examples.splitlines() if isinstance(raw_examples, str) else []
    return {
        "language": language,
        "key": text(form, "key"),
        "title": text(form, "title"),
        "reply": (form.get("reply") if isinstance(form.get("reply"), str) else "") or "",
        # A number goes on as a number; anything else goes on as typed, for the shape to refuse.
        "kb_article_id": (int(article) if article.isdigit() and len(article) < 19 else article) or None,
        "handoff": checked(form, "handoff"),
        "enabled": checked(form, "enabled"),
        "examples": [line.strip() for line in lines if line.strip()],
    }


async def _intent_page(
    request: Request,
    viewer: Viewer,
    *,
    intent_id: int | None,
    values: dict[str, Any],
    refused: Attempt | None = None,
) -> Response:
    """The intent form: empty, stored, or as sent with the reasons it was refused."""
    context = page(
        viewer,
        "bot",
        intent_id=intent_id,
        values=values,
        errors=refused.errors if refused else {},
        oos_key=OUT_OF_SCOPE,
        few=FEW_PHRASES,
        max_examples=MAX_EXAMPLES,
    )
    status_code = refused.status_code if refused else 200
    return render(request, "ui/admin/bot_intent.html", context, status_code=status_code)


@router.get("/admin/bot/{language}/intents/new")
async def intent_new(request: Request, language: str, viewer: AdminViewer) -> Response:
    values: dict[str, Any] = {
        "language": _language(language),
        "key": "",
        "title": "",
        "reply": "",
        "kb_article_id": None,
        "handoff": False,
        "enabled": True,
        "examples": [],
    }
    return await _intent_page(request, viewer, intent_id=None, values=values)


@router.post("/admin/bot/{language}/intents")
async def intent_create(request: Request, language: str, uow: Uow, viewer: AdminViewer) -> Response:
    values = _values(await request.form(), _language(language))
    attempt = Attempt(uow, viewer, _messages())
    await attempt.run(IntentCreate, values, lambda d: service.create_intent(uow, d))
    if attempt.errors:
        return await _intent_page(request, viewer, intent_id=None, values=values, refused=attempt)
    return RedirectResponse(f"/admin/bot?language={values['language']}&done=created", status_code=303)


@router.get("/admin/bot/intents/{intent_id}")
async def intent_edit(request: Request, intent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    intent = await service.get_intent(uow, intent_id)
    examples = (await repo.examples_of(uow.session, [intent.id]))[intent.id]
    values = {
        **{
            k: getattr(intent, k)
            for k in ("language", "key", "title", "reply", "kb_article_id", "handoff", "enabled")
        },
        "examples": [e.text for e in examples],
    }
    return await _intent_page(request, viewer, intent_id=intent.id, values=values)


@router.post("/admin/bot/intents/{intent_id}")
async def intent_update(request: Request, intent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    intent = await service.get_intent(uow, intent_id)
    values = _values(await request.form(), intent.language)
    values["key"] = intent.key  # the key is what conversations and reports name; it does not change
    changes = {k: v for k, v in values.items() if k not in ("language", "key")}
    attempt = Attempt(uow, viewer, _messages())
    await attempt.run(IntentUpdate, changes, lambda d: service.update_intent(uow, intent_id, d))
    if attempt.errors:
        return await _intent_page(request, viewer, intent_id=intent_id, values=values, refused=attempt)
    return RedirectResponse(f"/admin/bot?language={intent.language}&done=saved", status_code=303)


@router.post("/admin/bot/intents/{intent_id}/delete")
async def intent_delete(intent_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    intent = await service.get_intent(uow, intent_id)
    language = intent.language
    await service.delete_intent(uow, intent_id)
    return RedirectResponse(f"/admin/bot?language={language}&done=deleted", status_code=303)
