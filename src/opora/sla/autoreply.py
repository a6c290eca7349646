"""Auto-acknowledgement: a new ticket from a customer gets "we will answer within 2 hours".

The promise comes from the ticket's first-response clock: its due instant, phrased in the
calendar's time zone, and an out-of-hours text when the calendar is closed at arrival. It is
sent at most once per ticket, only on the customer's own channel, and never to a message the
channel flagged as automatic (auto-replies, bounces, mailing lists, floods: the email loop
rules), so two robots cannot answer each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from opora.bot import repository as bot_repo
from opora.db import UnitOfWork
from opora.events.service import SYSTEM
from opora.kit.placeholders import render
from opora.sla import clock, service
from opora.sla import repository as repo
from opora.sla.calendar import CALENDAR_24_7, BusinessCalendar
from opora.sla.models import Metric, SlaSettings
from opora.tickets.models import AuthorType, DeliveryStatus, Direction, Message
from opora.tickets.service import announce_message

# A promise this close is phrased as a duration ("within 2 hours"), a later one as a time of day.
WITHIN_LIMIT = timedelta(hours=8)
# Message metadata that forbids any automatic answer (set by the channels; see email/loops.py).
NO_ANSWER_FLAGS = ("no_auto_reply", "auto_submitted", "bulk", "rate_limited", "bounce_of")

_RU_WEEKDAYS = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)
_RU_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _ru_genitive(n: int, one: str, many: str) -> str:
    # "в течение 1 часа / 21 часа / 2 часов / 11 часов"
    return one if n % 10 == 1 and n % 100 != 11 else many


def _within(delta: timedelta, language: str) -> str:
    minutes = math.ceil(delta.total_seconds() / 60)
    if minutes > 60:
        hours = math.ceil(minutes / 60)
        if language == "en":
            return f"within {hours} hour{'s' if hours != 1 else ''}"
        return f"в течение {hours} {_ru_genitive(hours, 'часа', 'часов')}"
    minutes = max(5, math.ceil(minutes / 5) * 5)
    if minutes == 60:
        return "within 1 hour" if language == "en" else "в течение 1 часа"
    if language == "en":
        return f"within {minutes} minutes"
    return f"в течение {minutes} {_ru_genitive(minutes, 'минуты', 'минут')}"


def expected_reply(now: datetime, due: datetime, timezone: str, language: str, *, out_of_hours: bool) -> str:
    """The promise in words, in the desk's time zone: "within 2 hours", "by 10:00 tomorrow"."""
    delta = due - now
    if delta <= timedelta(0):
        return "as soon as possible" if language == "en" else "в ближайшее время"
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    # Promise the minute after, never the minute before, the due instant.
    local_due = (
        (due + timedelta(seconds=59, microseconds=999_999)).astimezone(tz).replace(second=0, microsecond=0)
    )
    hhmm = f"{local_due.hour:02d}:{local_due.minute:02d}"
    days = (local_due.date() - local_now.date()).days
    # A short promise made during working hours reads best as a duration, even when it runs past
    # midnight: "within 2 hours" at 23:50, not "by 01:50 tomorrow".
    if not out_of_hours and delta <= WITHIN_LIMIT:
        return _within(delta, language)
    if days == 0:
        return f"today by {hhmm}" if language == "en" else f"сегодня до {hhmm}"
    if days == 1:
        return f"by {hhmm} tomorrow" if language == "en" else f"завтра до {hhmm}"
    day = local_due.date()
    if language == "en":
        return f"by {hhmm} on {_EN_WEEKDAYS[day.weekday()]}, {day.day} {_EN_MONTHS[day.month - 1]}"
    return f"{_RU_WEEKDAYS[day.weekday()]}, {day.day} {_RU_MONTHS[day.month - 1]}, до {hhmm}"


def language_of(ticket_language: str | None, customer_language: str | None) -> str:
    return "en" if (ticket_language or customer_language) == "en" else "ru"


def may_answer(metadata: dict[str, Any]) -> bool:
    return not any(metadata.get(flag) for flag in NO_ANSWER_FLAGS)


def enabled_for(channel: tuple[bool, dict[str, Any]] | None, desk_enabled: bool) -> bool:
    """A channel's own ``auto_acknowledge`` setting wins over the desk-wide switch."""
    if channel is None or not channel[0]:
        return False
    flag = channel[1].get("auto_acknowledge")
    return flag if isinstance(flag, bool) else desk_enabled


@dataclass(frozen=True, slots=True)
class Promise:
    """When the desk promises a first answer on a ticket, in the customer's words."""

    phrase: str
    due: datetime
    out_of_hours: bool
    language: str


async def _promises(
    session: AsyncSession, settings: SlaSettings | None, rows: Mapping[int, Any], now: datetime
) -> dict[int, Promise]:
    clocks = {
        c.ticket_id: c
        for c in await repo.clocks_for(session, list(rows))
        if c.metric == Metric.FIRST_RESPONSE and c.fulfilled_at is None
    }
    default_id = settings.default_calendar_id if settings else None
    wanted = {c.calendar_id for c in clocks.values() if c.calendar_id} | (
        {default_id} if default_id else set()
    )
    calendars = await service.load_calendars(session, sorted(wanted))
    found: dict[int, Promise] = {}
    for tid, row in rows.items():
        sla = clocks.get(tid)
        if sla is None:
            continue  # no first-response target: nothing honest to promise
        calendar: BusinessCalendar = service.calendar_or_24_7(
            calendars, sla.calendar_id if sla.business else None
        )
        # Calendar-time targets still speak the desk's local time and hours.
        hours = calendars[default_id] if calendar is CALENDAR_24_7 and default_id in calendars else calendar
        state = sla.state()
        due = sla.due_at or clock.due_time(now, state.elapsed, state.target, calendar)
        out_of_hours = hours is not CALENDAR_24_7 and not hours.is_open(now)
        language = language_of(row.language, row.customer_language)
        phrase = expected_reply(now, due, hours.timezone, language, out_of_hours=out_of_hours)
        found[tid] = Promise(phrase, due, out_of_hours, language)
    return found


async def expected_replies(uow: UnitOfWork, ticket_ids: Sequence[int], *, now: datetime) -> dict[int, str]:
    """The first-response promise of each ticket that has a running target ("within 2 hours"),
    as the auto-acknowledgement would phrase it; the bot's hand-off uses the same words."""
    if not ticket_ids:
        return {}
    session = uow.session
    settings = await repo.cached_settings(session)
    rows = await repo.ticket_rows(session, ticket_ids)
    return {tid: p.phrase for tid, p in (await _promises(session, settings, rows, now)).items()}


async def acknowledge(uow: UnitOfWork, ticket_ids: Sequence[int], *, now: datetime) -> list[int]:
    """Queue an acknowledgement on every eligible new ticket; returns the messages queued."""
    if not ticket_ids:
        return []
    session = uow.session
    settings = await repo.cached_settings(session)
    # A ticket the bot is answering gets the promise from the bot, if it hands off.
    with_bot = await bot_repo.active_conversations(session, ticket_ids)
    rows = {
        tid: r
        for tid, r in (await repo.ticket_rows(session, ticket_ids)).items()
        if r.channel_id is not None and r.merged_into_id is None and tid not in with_bot
    }
    channels = await repo.channel_settings(
        session, sorted({r.channel_id for r in rows.values() if r.channel_id})
    )
    desk_enabled = bool(settings and settings.autoack_enabled)
    rows = {tid: r for tid, r in rows.items() if enabled_for(channels.get(r.channel_id or 0), desk_enabled)}
    if not rows:
        return []
    first = await repo.first_inbound_metadata(session, list(rows))
    done = await repo.tickets_with_automatic_reply(session, list(rows))
    rows = {tid: r for tid, r in rows.items() if tid in first and may_answer(first[tid]) and tid not in done}
    promises = await _promises(session, settings, rows, now)
    stored = settings or repo.new_settings()
    acks = service.templates(stored.autoack_templates or {}, service.DEFAULT_AUTOACK)
    closed = service.templates(stored.out_of_hours_templates or {}, service.DEFAULT_OUT_OF_HOURS)

    messages: list[tuple[Message, Any]] = []
    for tid, promise in promises.items():
        row = rows[tid]
        out_of_hours, due, language = promise.out_of_hours, promise.due, promise.language
        name = (row.customer_name or "").strip()
        text = render(
            (closed if out_of_hours else acks)[language],
            {
                "customer.name": name,
                "customer.first_name": name.split()[0] if name else "",
                "ticket.number": str(tid),
                "ticket.subject": row.subject,
                "ticket.status": row.status,
                "sla.expected_reply": promise.phrase,
            },
        )
        message = Message(
            ticket_id=tid,
            direction=Direction.OUT,
            author_type=AuthorType.SYSTEM,
            text=text,
            channel_type=row.channel_type,
            channel_id=row.channel_id,
            delivery_status=DeliveryStatus.QUEUED,
            # "automatic" makes the channel mark the send as machine-made (Auto-Submitted).
            metadata_={
                "automatic": True,
                "auto_ack": True,
                "out_of_hours": out_of_hours,
                "due_at": due.isoformat(),
            },
            created_at=now,
        )
        session.add(message)
        messages.append((message, row))
    if not messages:
        return []
    await session.flush()
    for message, row in messages:
        await announce_message(uow, message, SYSTEM, team_id=row.team_id, assignee_id=row.assignee_id)
    return [m.id for m, _ in messages]
