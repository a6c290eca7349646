"""/api/v1/surveys: CSAT settings, answers, follow-ups of bad ratings, reply templates."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from opora.auth.deps import Admin, CurrentPrincipal, Supervisor, Uow, Writer
from opora.kit.errors import NotFound
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, cursor_int, decode_cursor, encode_cursor
from opora.kit.schema import Page
from opora.surveys import repository, service
from opora.surveys.schemas import ReplyIn, SettingsIn, SettingsOut, SurveyOut
from opora.tickets import service as tickets_service
from opora.tickets.schemas import MessageOut

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


def _settings_out(s: service.SurveySettings) -> SettingsOut:
    return SettingsOut(
        enabled=s.enabled,
        delay_minutes=s.delay_minutes,
        link_valid_days=s.link_valid_days,
        survey_texts={lang: s.survey_text(lang) for lang in ("ru", "en")},
        reply_texts={k: {lang: s.reply_text(k, lang) for lang in ("ru", "en")} for k in service.REPLY_KINDS},
    )


@router.get("/settings")
async def get_settings(uow: Uow, _principal: Supervisor) -> SettingsOut:
    return _settings_out(await service.get_settings(uow))


@router.patch("/settings")
async def update_settings(data: SettingsIn, uow: Uow, _principal: Admin) -> SettingsOut:
    return _settings_out(await service.update_settings(uow, data.model_dump(exclude_unset=True)))


@router.get("")
async def list_answers(
    uow: Uow,
    _principal: Supervisor,
    max_rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    follow_up: Literal["open", "done"] | None = None,
    agent_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[SurveyOut]:
    """Answered surveys, newest first."""
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_answered(
        uow.session,
        max_rating=max_rating,
        follow_up=follow_up,
        agent_id=agent_id,
        limit=limit + 1,
        before_id=before,
    )
    items = [SurveyOut.model_validate(s) for s in found[:limit]]
    return Page(
        items=items, next_cursor=encode_cursor(items[-1].id) if len(found) > limit and items else None
    )


@router.get("/tickets/{ticket_id}")
async def ticket_survey(ticket_id: int, uow: Uow, principal: CurrentPrincipal) -> SurveyOut:
    survey = await service.for_ticket(uow, principal, ticket_id)
    if survey is None:
        raise NotFound(f"Ticket {ticket_id} has no survey.")
    return SurveyOut.model_validate(survey)


@router.post("/{survey_id}/follow-up/done")
async def close_follow_up(survey_id: int, uow: Uow, principal: Supervisor) -> SurveyOut:
    return SurveyOut.model_validate(await service.close_follow_up(uow, principal, survey_id))


@router.post("/{survey_id}/reply", status_code=201)
async def send_reply(survey_id: int, data: ReplyIn, uow: Uow, principal: Writer) -> MessageOut:
    """Post the "thank you" or "sorry, we will fix it" reply on the rated ticket."""
    message = await service.send_reply(uow, principal, survey_id, data.kind)
    return (await tickets_service.message_out(uow, [message]))[0]
