"""SLA use cases: policies, calendars and settings for admins; a ticket's clocks for agents."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from opora.agents.models import Calendar
from opora.auth.permissions import Principal
from opora.db import UnitOfWork
from opora.kit import placeholders
from opora.kit.errors import Conflict, InvalidInput, NotFound
from opora.kit.readcache import cached
from opora.kit.time import utcnow
from opora.sla import clock
from opora.sla import repository as repo
from opora.sla.calendar import CALENDAR_24_7, BusinessCalendar
from opora.sla.models import CalendarOverride, Metric, SlaPolicy, SlaSettings, TicketSla
from opora.sla.policy import Policy, from_row
from opora.sla.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    ClockOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    SettingsOut,
    SettingsUpdate,
)
from opora.tickets import service as tickets_service

log = logging.getLogger(__name__)

DEFAULT_AUTOACK = {
    "ru": "Здравствуйте! Мы получили ваше обращение №{{ticket.number}} и ответим {{sla.expected_reply}}.",
    "en": "Hello! We have received your request #{{ticket.number}} and will answer {{sla.expected_reply}}.",
}
DEFAULT_OUT_OF_HOURS = {
    "ru": "Здравствуйте! Мы получили ваше обращение №{{ticket.number}}. Сейчас мы не работаем "
    "и ответим {{sla.expected_reply}}.",
    "en": "Hello! We have received your request #{{ticket.number}}. We are closed right now "
    "and will answer {{sla.expected_reply}}.",
}

# -- calendars as arithmetic -----------------------------------------------------------------------


def build_calendar(row: Calendar, overrides: Sequence[CalendarOverride]) -> BusinessCalendar:
    return BusinessCalendar(
        row.timezone,
        row.weekly_hours or {},
        row.holiday_country,
        {o.day: o.hours for o in overrides},
    )


async def load_calendars(session: Any, calendar_ids: Sequence[int]) -> dict[int, BusinessCalendar]:
    rows = await repo.calendars_by_id(session, calendar_ids)
    overrides = await repo.overrides_of(session, list(rows))
    result: dict[int, BusinessCalendar] = {}
    for cid, row in rows.items():
        try:
            result[cid] = build_calendar(row, overrides.get(cid, []))
        except ValueError:
            # Stored calendars are validated on write; one broken by hand must not stop the desk.
            log.exception("calendar %s is invalid; counting calendar time instead", cid)
    return result


def calendar_or_24_7(calendars: dict[int, BusinessCalendar], calendar_id: int | None) -> BusinessCalendar:
    if calendar_id is None:
        return CALENDAR_24_7
    return calendars.get(calendar_id, CALENDAR_24_7)


async def active_policies(session: Any) -> list[Policy]:
    """The active policies in order; cached per process (kit.readcache), edits seen at once here."""

    async def load() -> list[Policy]:
        return [
            from_row(
                id=p.id,
                position=p.position,
                conditions=p.conditions,
                targets=p.targets,
                warning_percent=p.warning_percent,
                name=p.name,
            )
            for p in await repo.list_policies(session, active_only=True)
        ]

    return list(await cached(session, "sla.active_policies", load))


# -- policies --------------------------------------------------------------------------------------


async def _check_policy_refs(uow: UnitOfWork, conditions: dict[str, Any], targets: dict[str, Any]) -> None:
    missing_teams = set(conditions.get("team_ids") or ()) - await repo.existing_team_ids(
        uow.session, conditions.get("team_ids") or []
    )
    if missing_teams:
        raise InvalidInput(f"Unknown team ids: {sorted(missing_teams)}.", field="conditions.team_ids")
    for metric, spec in targets.items():
        cid = (spec or {}).get("calendar_id")
        if cid is not None and not await repo.existing_calendar_ids(uow.session, [cid]):
            raise InvalidInput(f"Calendar {cid} does not exist.", field=f"targets.{metric}.calendar_id")


def _stored_targets(targets: dict[str, Any]) -> dict[str, Any]:
    return {metric: spec for metric, spec in targets.items() if spec is not None}


async def create_policy(uow: UnitOfWork, data: PolicyCreate) -> SlaPolicy:
    if await repo.policy_by_name(uow.session, data.name) is not None:
        raise Conflict(f"A policy named {data.name!r} already exists.", field="name")
    conditions = data.conditions.model_dump(mode="json")
    targets = _stored_targets(data.targets.model_dump(mode="json"))
    await _check_policy_refs(uow, conditions, targets)
    now = utcnow()
    policy = SlaPolicy(
        name=data.name,
        position=data.position,
        is_active=data.is_active,
        conditions=conditions,
        targets=targets,
        warning_percent=data.warning_percent,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(policy)
    try:
        async with uow.session.begin_nested():
            await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A policy named {data.name!r} already exists.", field="name") from exc
    return policy


async def get_policy(uow: UnitOfWork, policy_id: int) -> SlaPolicy:
    policy = await repo.get_policy(uow.session, policy_id)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} does not exist.")
    return policy


async def update_policy(uow: UnitOfWork, policy_id: int, data: PolicyUpdate) -> SlaPolicy:
    """Changes apply to clocks started or re-matched from now on; running clocks keep their due time."""
    policy = await get_policy(uow, policy_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    for key in ("name", "position", "is_active", "conditions", "targets", "warning_percent"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    renamed = "name" in changes and changes["name"] != policy.name
    if renamed and await repo.policy_by_name(uow.session, changes["name"]) is not None:
        raise Conflict(f"A policy named {changes['name']!r} already exists.", field="name")
    conditions = changes.get("conditions", policy.conditions)
    targets = _stored_targets(changes["targets"]) if "targets" in changes else policy.targets
    await _check_policy_refs(uow, conditions, targets)
    changes["targets"] = targets
    changes["conditions"] = conditions
    for key, value in changes.items():
        setattr(policy, key, value)
    policy.updated_at = utcnow()
    await uow.session.flush()
    return policy


async def delete_policy(uow: UnitOfWork, policy_id: int) -> None:
    # Clocks keep running on their own copy of the targets; their policy_id becomes null.
    await uow.session.delete(await get_policy(uow, policy_id))
    await uow.session.flush()


def policy_out(policy: SlaPolicy) -> PolicyOut:
    return PolicyOut.model_validate({c.key: getattr(policy, c.key) for c in SlaPolicy.__table__.columns})


# -- calendars -------------------------------------------------------------------------------------


def _override_rows(overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    days = [o["date"] for o in overrides]
    duplicates = sorted({d.isoformat() for d in days if days.count(d) > 1})
    if duplicates:
        raise InvalidInput(f"Overrides name these dates twice: {', '.join(duplicates)}.", field="overrides")
    return [{"day": o["date"], "hours": [list(i) for i in o["hours"]], "note": o["note"]} for o in overrides]


def _check_calendar(
    timezone: str, weekly: dict[str, Any], country: str | None, overrides: list[dict[str, Any]]
) -> None:
    try:
        BusinessCalendar(timezone, weekly, country, {o["day"]: o["hours"] for o in overrides})
    except ValueError as exc:
        text = str(exc)
        field = (
            "overrides"
            if text.startswith("override")
            else "holiday_country"
            if "country" in text
            else "timezone"
            if "time zone" in text
            else "weekly_hours"
        )
        raise InvalidInput(text[:1].upper() + text[1:] + ".", field=field) from exc


async def create_calendar(uow: UnitOfWork, data: CalendarCreate) -> Calendar:
    if await repo.calendar_by_name(uow.session, data.name) is not None:
        raise Conflict(f"A calendar named {data.name!r} already exists.", field="name")
    weekly = {day: [list(i) for i in spans] for day, spans in data.weekly_hours.items()}
    country = data.holiday_country.upper() if data.holiday_country else None
    overrides = _override_rows([o.model_dump() for o in data.overrides])
    _check_calendar(data.timezone, weekly, country, overrides)
    row = Calendar(name=data.name, timezone=data.timezone, weekly_hours=weekly, holiday_country=country)
    uow.session.add(row)
    await uow.session.flush()
    await repo.replace_overrides(uow.session, row.id, overrides)
    return row


async def get_calendar(uow: UnitOfWork, calendar_id: int) -> Calendar:
    row = await repo.get_calendar(uow.session, calendar_id)
    if row is None:
        raise NotFound(f"Calendar {calendar_id} does not exist.")
    return row


async def update_calendar(uow: UnitOfWork, calendar_id: int, data: CalendarUpdate) -> Calendar:
    """Running clocks keep their due times; the new hours count from each clock's next move."""
    row = await get_calendar(uow, calendar_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "timezone", "weekly_hours"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    renamed = "name" in changes and changes["name"] != row.name
    if renamed and await repo.calendar_by_name(uow.session, changes["name"]) is not None:
        raise Conflict(f"A calendar named {changes['name']!r} already exists.", field="name")
    timezone = changes.get("timezone", row.timezone)
    weekly = (
        {day: [list(i) for i in spans] for day, spans in changes["weekly_hours"].items()}
        if "weekly_hours" in changes
        else row.weekly_hours
    )
    country = changes.get("holiday_country", row.holiday_country)
    country = country.upper() if country else None
    if "overrides" in changes and changes["overrides"] is not None:
        overrides = _override_rows(changes["overrides"])
    else:
        current = (await repo.overrides_of(uow.session, [row.id]))[row.id]
        overrides = [{"day": o.day, "hours": o.hours, "note": o.note} for o in current]
    _check_calendar(timezone, weekly, country, overrides)
    row.name = changes.get("name", row.name)
    row.timezone, row.weekly_hours, row.holiday_country = timezone, weekly, country
    if "overrides" in changes and changes["overrides"] is not None:
        await repo.replace_overrides(uow.session, row.id, overrides)
    await uow.session.flush()
    return row


async def calendar_out(uow: UnitOfWork, rows: Sequence[Calendar]) -> list[CalendarOut]:
    overrides = await repo.overrides_of(uow.session, [r.id for r in rows])
    return [
        CalendarOut.model_validate(
            {
                "id": r.id,
                "name": r.name,
                "timezone": r.timezone,
                "weekly_hours": r.weekly_hours or {},
                "holiday_country": r.holiday_country,
                "created_at": r.created_at,
                "overrides": [
                    {"date": o.day, "hours": [tuple(i) for i in o.hours], "note": o.note}
                    for o in overrides.get(r.id, [])
                ],
            }
        )
        for r in rows
    ]


# -- settings --------------------------------------------------------------------------------------


def templates(stored: dict[str, Any], defaults: dict[str, str]) -> dict[str, str]:
    return {lang: stored.get(lang) or text for lang, text in defaults.items()}


async def settings_row(uow: UnitOfWork) -> SlaSettings:
    return await repo.get_settings(uow.session) or repo.new_settings()


def settings_out(row: SlaSettings) -> SettingsOut:
    return SettingsOut.model_validate(
        {
            "default_calendar_id": row.default_calendar_id,
            "autoack_enabled": bool(row.autoack_enabled),
            "autoack_templates": templates(row.autoack_templates or {}, DEFAULT_AUTOACK),
            "out_of_hours_templates": templates(row.out_of_hours_templates or {}, DEFAULT_OUT_OF_HOURS),
        }
    )


async def update_settings(uow: UnitOfWork, data: SettingsUpdate) -> SlaSettings:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("default_calendar_id") is not None:
        await get_calendar(uow, changes["default_calendar_id"])
    for key in ("autoack_templates", "out_of_hours_templates"):
        for lang, text in (changes.get(key) or {}).items():
            unknown = placeholders.unknown_in(text or "")
            if unknown:
                raise InvalidInput(f"Unknown variables: {', '.join(unknown)}.", field=f"{key}.{lang}")
    if changes.get("autoack_enabled") is None:
        changes.pop("autoack_enabled", None)
    row = await repo.get_settings(uow.session, for_update=not uow.is_sqlite)
    if row is None:
        row = repo.new_settings()
        uow.session.add(row)
    for key in ("autoack_templates", "out_of_hours_templates"):
        if changes.get(key) is not None:
            merged = dict(getattr(row, key) or {})
            merged.update({lang: text for lang, text in changes.pop(key).items() if text is not None})
            setattr(row, key, merged)
        changes.pop(key, None)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await uow.session.flush()
    return row


# -- a ticket's clocks -----------------------------------------------------------------------------


async def ticket_clocks(uow: UnitOfWork, principal: Principal, ticket_id: int) -> list[ClockOut]:
    await tickets_service.visible_ticket(uow, principal, ticket_id)
    rows = await repo.clocks_for(uow.session, [ticket_id])
    calendars = await load_calendars(uow.session, sorted({r.calendar_id for r in rows if r.calendar_id}))
    now = utcnow()
    order = list(Metric)
    result = []
    for row in sorted(rows, key=lambda r: order.index(Metric(r.metric))):
        state = row.state()
        calendar = calendar_or_24_7(calendars, row.calendar_id if row.business else None)
        result.append(
            ClockOut(
                metric=row.metric,
                policy_id=row.policy_id,
                target_minutes=row.target_seconds // 60,
                business=row.business,
                calendar_id=row.calendar_id,
                started_at=row.started_at,
                due_at=row.due_at,
                paused=state.paused,
                elapsed_seconds=int(clock.elapsed(state, now, calendar).total_seconds()),
                remaining_seconds=int(clock.remaining(state, now, calendar).total_seconds()),
                warned_at=row.warned_at,
                breached_at=row.breached_at,
                breached=clock.is_breached(state, now),
                fulfilled_at=row.fulfilled_at,
            )
        )
    return result


async def expected_first_response(uow: UnitOfWork, ticket_id: int) -> datetime | None:
    """When the customer can expect the first answer: the running first-response due time, or,
    while paused, when it would fall if the clock ran again now; None once answered or untracked."""
    row: TicketSla | None = await repo.clock(uow.session, ticket_id, Metric.FIRST_RESPONSE)
    if row is None or row.fulfilled_at is not None:
        return None
    if row.due_at is not None:
        return row.due_at
    calendars = await load_calendars(uow.session, [row.calendar_id] if row.calendar_id else [])
    calendar = calendar_or_24_7(calendars, row.calendar_id if row.business else None)
    state = row.state()
    return clock.due_time(utcnow(), state.elapsed, state.target, calendar)
