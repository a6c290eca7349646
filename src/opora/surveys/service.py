"""CSAT use cases: schedule a survey when a ticket is solved, send it, take the answer.

A ticket gets at most one survey and one answer (``csat_surveys.ticket_id`` is unique). The
answer is final: a second submission, even within the link's validity, is refused and changes
nothing, so the rating analytics read never moves after the fact (ADR 0022).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, Actor
from opora.jobs.service import enqueue
from opora.kit import placeholders
from opora.kit.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from opora.kit.time import as_utc, utcnow
from opora.surveys import repository, tokens
from opora.surveys.models import CsatSettings, CsatSurvey, SurveyStatus
from opora.surveys.repository import CsatRow
from opora.tickets import repository as tickets_repo
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, DeliveryStatus, Direction, Message, Ticket
from opora.tickets.schemas import MessageIn

__all__ = ["CsatRow", "csat_rows"]

SEND_TASK = "surveys.send"
NEGATIVE_MAX = 2  # ratings 1 and 2 call for a supervisor's follow-up
NEGATIVE_TAG = "csat-negative"
KNOWN = (*placeholders.KNOWN, "survey.link")
REPLY_KINDS = ("thanks", "sorry")

DEFAULT_SURVEY_TEXTS = {
    "ru": "Здравствуйте, {{customer.first_name}}! Ваше обращение №{{ticket.number}} решено. "
    "Оцените, пожалуйста, нашу помощь от 1 до 5 — это займёт минуту: {{survey.link}}",
    "en": "Hello {{customer.first_name}}, your request #{{ticket.number}} is solved. "
    "Please rate our help from 1 to 5, it takes a minute: {{survey.link}}",
}
DEFAULT_REPLY_TEXTS = {
    "thanks": {
        "ru": "{{customer.first_name}}, спасибо за высокую оценку! Будем рады помочь снова.",
        "en": "Thank you for the kind rating, {{customer.first_name}}! We are always glad to help.",
    },
    "sorry": {
        "ru": "{{customer.first_name}}, простите, что мы вас подвели. Мы разберёмся и исправим "
        "это; руководитель смены свяжется с вами по обращению №{{ticket.number}}.",
        "en": "{{customer.first_name}}, we are sorry we let you down. We will look into it and fix "
        "it; a team lead will contact you about request #{{ticket.number}}.",
    },
}


@dataclass(frozen=True)
class SurveySettings:
    enabled: bool = True
    delay_minutes: int = 60
    link_valid_days: int = 14
    survey_texts: dict[str, str] | None = None
    reply_texts: dict[str, dict[str, str]] | None = None

    def survey_text(self, language: str) -> str:
        texts = {**DEFAULT_SURVEY_TEXTS, **(self.survey_texts or {})}
        return texts.get(language) or texts["ru"]

    def reply_text(self, kind: str, language: str) -> str:
        texts = {**DEFAULT_REPLY_TEXTS[kind], **(self.reply_texts or {}).get(kind, {})}
        return texts.get(language) or texts["ru"]


def settings_of(row: CsatSettings | None) -> SurveySettings:
    if row is None:
        return SurveySettings()
    return SurveySettings(
        enabled=row.enabled,
        delay_minutes=row.delay_minutes,
        link_valid_days=row.link_valid_days,
        survey_texts=dict(row.survey_texts or {}),
        reply_texts=dict(row.reply_texts or {}),
    )


async def get_settings(uow: UnitOfWork) -> SurveySettings:
    return settings_of(await repository.get_settings(uow.session))


async def update_settings(uow: UnitOfWork, changes: dict[str, Any]) -> SurveySettings:
    for key in ("survey_texts",):
        for language, text in (changes.get(key) or {}).items():
            unknown = placeholders.unknown_in(text, known=KNOWN)
            if unknown:
                raise InvalidInput(f"Unknown variable {{{{{unknown[0]}}}}}.", field=f"{key}.{language}")
    for kind, texts in (changes.get("reply_texts") or {}).items():
        for language, text in texts.items():
            unknown = placeholders.unknown_in(text)
            if unknown:
                raise InvalidInput(
                    f"Unknown variable {{{{{unknown[0]}}}}}.", field=f"reply_texts.{kind}.{language}"
                )
    row = await repository.get_settings(uow.session, for_update=True)
    if row is None:
        row = CsatSettings(
            id=1, enabled=True, delay_minutes=60, link_valid_days=14, survey_texts={}, reply_texts={}
        )
        uow.session.add(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await uow.session.flush()
    return settings_of(row)


def language_for(ticket_language: str | None, customer_language: str | None) -> str:
    return "en" if (ticket_language or customer_language) == "en" else "ru"


async def schedule_for_solved(uow: UnitOfWork, ticket_ids: Sequence[int]) -> list[int]:
    """Queue the survey of every ticket just solved that has a channel and no survey yet.

    A survey skipped because the ticket was reopened before the send is scheduled again; one
    already sent or answered never is. Returns the ticket ids scheduled.
    """
    session = uow.session
    settings = settings_of(await repository.get_settings(session))
    if not settings.enabled or not ticket_ids:
        return []
    found = await repository.tickets(session, ticket_ids)
    eligible = {
        tid: t
        for tid, t in found.items()
        if t.status == Status.SOLVED and t.channel_id is not None and t.merged_into_id is None
    }
    existing = await repository.surveys_of(session, list(eligible))
    languages = await repository.customer_languages(session, {t.customer_id for t in eligible.values()})
    now = utcnow()
    run_at = now + timedelta(minutes=settings.delay_minutes)
    scheduled: list[int] = []
    for tid, ticket in sorted(eligible.items()):
        survey = existing.get(tid)
        if survey is not None and survey.status != SurveyStatus.SKIPPED:
            continue
        if survey is None:
            survey = CsatSurvey(ticket_id=tid, created_at=now)
            session.add(survey)
        survey.status = SurveyStatus.SCHEDULED
        survey.customer_id = ticket.customer_id
        survey.agent_id = ticket.assignee_id
        survey.team_id = ticket.team_id
        survey.channel_type = ticket.channel_type
        survey.language = language_for(ticket.language, languages.get(ticket.customer_id))
        scheduled.append(tid)
    if not scheduled:
        return []
    await session.flush()
    for tid in scheduled:
        await enqueue(uow, SEND_TASK, {"ticket_id": tid}, unique_key=f"csat-send:{tid}", run_at=run_at)
    return scheduled


def survey_link(public_url: str, key: bytes, survey_id: int, expires_at: datetime) -> str:
    return f"{public_url}/survey/{tokens.sign(key, survey_id, expires_at)}"


async def send(uow: UnitOfWork, *, ticket_id: int, public_url: str, key: bytes) -> Message | None:
    """The send job: the survey becomes an outbound message on the ticket's own channel."""
    session = uow.session
    survey = (await repository.surveys_of(session, [ticket_id])).get(ticket_id)
    if survey is None or survey.status != SurveyStatus.SCHEDULED:
        return None
    ticket = await tickets_repo.get_ticket(session, ticket_id, for_update=not uow.is_sqlite)
    if (
        ticket is None
        or ticket.status not in (Status.SOLVED, Status.CLOSED)
        or ticket.channel_id is None
        or ticket.merged_into_id is not None
    ):
        # Reopened meanwhile: asking "how did we do" now would be premature.
        survey.status = SurveyStatus.SKIPPED
        return None
    settings = settings_of(await repository.get_settings(session))
    now = utcnow()
    expires_at = now + timedelta(days=settings.link_valid_days)
    link = survey_link(public_url, key, survey.id, expires_at)
    name = await repository.customer_name(session, ticket.customer_id)
    template = settings.survey_text(survey.language)
    text = placeholders.render(template, {**_values(ticket, name), "survey.link": link}, known=KNOWN)
    if link not in text:
        text = f"{text}\n{link}"
    message = Message(
        ticket_id=ticket.id,
        direction=Direction.OUT,
        author_type=AuthorType.SYSTEM,
        text=text,
        channel_type=ticket.channel_type,
        channel_id=ticket.channel_id,
        delivery_status=DeliveryStatus.QUEUED,
        # "automatic": the channel marks it machine-made, so autoresponders do not answer it.
        metadata_={"automatic": True, "csat_survey_id": survey.id},
        created_at=now,
    )
    session.add(message)
    await session.flush()
    survey.status = SurveyStatus.SENT
    survey.message_id = message.id
    survey.sent_at = now
    survey.expires_at = expires_at
    await tickets_service.announce_message(
        uow, message, SYSTEM, team_id=ticket.team_id, assignee_id=ticket.assignee_id
    )
    return message


def _values(ticket: Ticket, customer_name: str) -> dict[str, str | None]:
    name = customer_name.strip()
    return {
        "customer.name": name,
        "customer.first_name": name.split()[0] if name else "",
        "ticket.number": str(ticket.id),
        "ticket.subject": ticket.subject,
        "ticket.status": ticket.status,
    }


async def _record(uow: UnitOfWork, ticket: Ticket, kind: str, actor: Actor, data: dict[str, Any]) -> None:
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=kind,
        actor=actor,
        data=data,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


class LinkExpired(AppError):
    status_code = 410
    code = "link_expired"


async def open_survey(uow: UnitOfWork, key: bytes, token: str) -> CsatSurvey:
    """The survey behind a link; forged links are unknown, expired ones are gone."""
    now = utcnow()
    try:
        survey_id = tokens.verify(key, token, now)
    except tokens.ExpiredToken as exc:
        raise LinkExpired("This survey link has expired.") from exc
    except tokens.BadToken as exc:
        raise NotFound("No such survey.") from exc
    survey = await repository.get(uow.session, survey_id, for_update=not uow.is_sqlite)
    if survey is None or survey.status not in (SurveyStatus.SENT, SurveyStatus.ANSWERED):
        raise NotFound("No such survey.")
    if survey.status == SurveyStatus.SENT and survey.expires_at and as_utc(survey.expires_at) <= now:
        raise LinkExpired("This survey link has expired.")
    return survey


async def answer(uow: UnitOfWork, key: bytes, token: str, *, rating: int, comment: str) -> CsatSurvey:
    survey = await open_survey(uow, key, token)
    if survey.status == SurveyStatus.ANSWERED:
        raise Conflict("This survey was already answered.", field="rating")
    if not 1 <= rating <= 5:
        raise InvalidInput("Choose a rating from 1 to 5.", field="rating")
    comment = comment.strip()[:5000]
    ticket = await tickets_repo.get_ticket(uow.session, survey.ticket_id)
    if ticket is None:
        raise NotFound("No such survey.")
    now = utcnow()
    survey.status = SurveyStatus.ANSWERED
    survey.rating = rating
    survey.comment = comment or None
    survey.answered_at = now
    actor = Actor("customer", ticket.customer_id)
    await _record(
        uow,
        ticket,
        "csat_received",
        actor,
        {
            "survey_id": survey.id,
            "rating": rating,
            "comment": comment or None,
            "agent_id": survey.agent_id,
        },
    )
    if rating <= NEGATIVE_MAX:
        await _follow_up(uow, ticket, survey)
    await uow.session.flush()
    return survey


async def _follow_up(uow: UnitOfWork, ticket: Ticket, survey: CsatSurvey) -> None:
    """A bad rating: tag the ticket, open a follow-up, tell the supervisors."""
    survey.follow_up = "open"
    old = (await tickets_repo.tags_of(uow.session, [ticket.id]))[ticket.id]
    if NEGATIVE_TAG not in old:
        new = sorted({*old, NEGATIVE_TAG})
        await tickets_repo.set_tags(uow.session, ticket.id, new)
        await _record(uow, ticket, "tags_changed", SYSTEM, {"tags": events.change(old, new)})
    supervisors = await repository.supervisors(uow.session)
    if supervisors:
        text = f"CSAT {survey.rating}/5 · #{ticket.id} {ticket.subject}"
        if survey.comment:
            text += f": {survey.comment}"
        await _record(
            uow,
            ticket,
            "rule_notification",
            SYSTEM,
            {
                "source": "csat",
                "survey_id": survey.id,
                "agent_ids": supervisors,
                "text": text,
            },
        )


async def close_follow_up(uow: UnitOfWork, principal: Principal, survey_id: int) -> CsatSurvey:
    if not principal.sees_all_tickets:
        raise Forbidden("Only supervisors and admins may do this.")
    survey = await repository.get(uow.session, survey_id, for_update=not uow.is_sqlite)
    if survey is None:
        raise NotFound(f"Survey {survey_id} does not exist.")
    if survey.follow_up != "open":
        raise Conflict("This rating has no open follow-up.", field="survey_id")
    survey.follow_up = "done"
    survey.follow_up_by = principal.agent_id
    ticket = await tickets_repo.get_ticket(uow.session, survey.ticket_id)
    if ticket is not None:
        await _record(uow, ticket, "csat_follow_up_done", principal.actor, {"survey_id": survey.id})
    await uow.session.flush()
    return survey


async def reply_text(
    uow: UnitOfWork, principal: Principal, survey_id: int, kind: str
) -> tuple[CsatSurvey, str]:
    """The "thank you" or "sorry, we will fix it" reply, filled in for this customer."""
    if kind not in REPLY_KINDS:
        raise InvalidInput("Choose 'thanks' or 'sorry'.", field="kind")
    survey = await repository.get(uow.session, survey_id)
    if survey is None:
        raise NotFound(f"Survey {survey_id} does not exist.")
    ticket = await tickets_service.visible_ticket(uow, principal, survey.ticket_id)
    settings = await get_settings(uow)
    name = await repository.customer_name(uow.session, ticket.customer_id)
    return survey, placeholders.render(settings.reply_text(kind, survey.language), _values(ticket, name))


async def send_reply(uow: UnitOfWork, principal: Principal, survey_id: int, kind: str) -> Message:
    survey, text = await reply_text(uow, principal, survey_id, kind)
    return await tickets_service.add_message(uow, principal, survey.ticket_id, MessageIn(text=text))


async def for_ticket(uow: UnitOfWork, principal: Principal, ticket_id: int) -> CsatSurvey | None:
    await tickets_service.visible_ticket(uow, principal, ticket_id)
    return (await repository.surveys_of(uow.session, [ticket_id])).get(ticket_id)


async def csat_rows(session: Any, *, start: datetime, end: datetime) -> list[CsatRow]:
    """For analytics: every survey answered in ``[start, end)``; see :func:`repository.csat_rows`."""
    return await repository.csat_rows(session, start=start, end=end)
