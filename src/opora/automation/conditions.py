"""Rule conditions: validation and evaluation as pure functions over plain data.

A rule's conditions are two groups, as in Zendesk and Freshdesk::

    {"all": [{"field": "status", "op": "is", "value": "new"}, ...],
     "any": [{"field": "message.text", "op": "contains", "value": ["возврат", "refund"]}, ...]}

The rule matches when every condition of ``all`` holds and, if ``any`` is not empty, at least one
of ``any`` holds. Nothing here touches the database or the clock: the caller builds a
:class:`Context` (the ticket as it is now, the message of the event if there is one, the instant,
and the team's business calendar) and the tests pin every part of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opora.customers import figures
from opora.customers.figures import Figures
from opora.sla.calendar import CALENDAR_24_7, BusinessCalendar
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, Direction, Priority

MAX_CONDITIONS = 50
MAX_PHRASES = 50
PRIORITY_RANK = {p.value: i for i, p in enumerate(Priority)}


class ConditionError(ValueError):
    """A condition is not valid; ``path`` names it (``conditions.all[2].value``)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class MessageView:
    text: str
    direction: str
    author_type: str
    internal: bool


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    status: str
    priority: str
    team_id: int | None
    assignee_id: int | None
    channel_type: str
    topic: str | None
    language: str | None
    tags: frozenset[str]
    customer_segment: str | None
    created_at: datetime
    last_customer_message_at: datetime | None
    customer_figures: Figures | None = None


@dataclass(frozen=True, slots=True)
class Context:
    ticket: TicketView
    event_kind: str
    message: MessageView | None
    now: datetime
    calendar: BusinessCalendar = CALENDAR_24_7


# -- value checkers -----------------------------------------------------------------------------

Checker = Callable[[Any, str], Any]


def _choice(options: Sequence[str], *, nullable: bool = False) -> Checker:
    def check(value: Any, path: str) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or value not in options:
            raise ConditionError(f"must be one of {', '.join(options)}", path)
        return value

    return check


def _text(*, nullable: bool = False, lower: bool = False) -> Checker:
    def check(value: Any, path: str) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ConditionError("must be a non-empty string of at most 200 characters", path)
        return value.strip().lower() if lower else value.strip()

    return check


def _ident(*, nullable: bool = True) -> Checker:
    def check(value: Any, path: str) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConditionError("must be a positive integer id" + (" or null" if nullable else ""), path)
        return value

    return check


def _minutes(value: Any, path: str) -> Any:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 525_600:
        raise ConditionError("must be a whole number of minutes from 0 to 525600", path)
    return value


def _boolean(value: Any, path: str) -> Any:
    if not isinstance(value, bool):
        raise ConditionError("must be true or false", path)
    return value


def _list_of(item: Checker, *, limit: int = MAX_PHRASES) -> Checker:
    def check(value: Any, path: str) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or len(value) > limit:
            raise ConditionError(f"must be a list of 1 to {limit} values", path)
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return check


@dataclass(frozen=True)
class FieldSpec:
    ops: Mapping[str, Checker]


def _figure(field: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        try:
            return figures.check(field, value)
        except ValueError as exc:
            raise ConditionError(str(exc), path) from None

    return check


def _equality(value: Checker) -> FieldSpec:
    return FieldSpec({"is": value, "is_not": value, "in": _list_of(value), "not_in": _list_of(value)})


_STATUS = _choice([s.value for s in Status])
_PRIORITY = _choice([p.value for p in Priority])
_TAG = _text(lower=True)

FIELDS: dict[str, FieldSpec] = {
    "status": _equality(_STATUS),
    "priority": FieldSpec(
        {**_equality(_PRIORITY).ops, "at_least": _PRIORITY, "at_most": _PRIORITY},
    ),
    "team_id": _equality(_ident()),
    "assignee_id": _equality(_ident()),
    "channel_type": _equality(_text()),
    "topic": _equality(_text(nullable=True)),
    "language": _equality(_choice(["ru", "en"], nullable=True)),
    "tags": FieldSpec(
        {"includes_any": _list_of(_TAG), "includes_all": _list_of(_TAG), "excludes": _list_of(_TAG)}
    ),
    "message.text": FieldSpec({"contains": _list_of(_text()), "not_contains": _list_of(_text())}),
    "message.direction": FieldSpec({"is": _choice([d.value for d in Direction])}),
    "message.author_type": _equality(_choice([a.value for a in AuthorType])),
    "message.internal": FieldSpec({"is": _boolean}),
    "customer.segment": _equality(_text(nullable=True)),
    **{name: FieldSpec(dict.fromkeys(figures.OPERATORS, _figure(name))) for name in figures.FIELDS},
    "business_hours": FieldSpec({"is": _choice(["open", "closed"])}),
    "minutes_since_created": FieldSpec({"more_than": _minutes, "less_than": _minutes}),
    "minutes_since_customer_message": FieldSpec({"more_than": _minutes, "less_than": _minutes}),
}


# Segment rules judge a customer, not a ticket: only the lifetime figures apply.
FIGURE_FIELDS: dict[str, FieldSpec] = {name: FIELDS[name] for name in figures.FIELDS}


def validate(
    raw: Any, path: str = "conditions", *, fields: Mapping[str, FieldSpec] = FIELDS
) -> dict[str, list[dict[str, Any]]]:
    """Return the normalised conditions or raise :class:`ConditionError` naming the bad part."""
    if raw is None:
        return {"all": [], "any": []}
    if not isinstance(raw, dict):
        raise ConditionError("must be an object with 'all' and/or 'any' lists", path)
    unknown = set(raw) - {"all", "any"}
    if unknown:
        raise ConditionError(f"unknown key {sorted(unknown)[0]!r}; use 'all' and 'any'", path)
    result: dict[str, list[dict[str, Any]]] = {"all": [], "any": []}
    for group in ("all", "any"):
        items = raw.get(group) or []
        if not isinstance(items, list):
            raise ConditionError("must be a list of conditions", f"{path}.{group}")
        for index, item in enumerate(items):
            result[group].append(_validate_one(item, f"{path}.{group}[{index}]", fields))
    if len(result["all"]) + len(result["any"]) > MAX_CONDITIONS:
        raise ConditionError(f"at most {MAX_CONDITIONS} conditions", path)
    return result


def _validate_one(item: Any, path: str, fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ConditionError("a condition is an object {field, op, value}", path)
    unknown = set(item) - {"field", "op", "value"}
    if unknown:
        raise ConditionError(f"unknown key {sorted(unknown)[0]!r}", path)
    field = item.get("field")
    spec = fields.get(field) if isinstance(field, str) else None
    if spec is None:
        raise ConditionError(f"unknown field {field!r}; known: {', '.join(fields)}", f"{path}.field")
    op = item.get("op")
    checker = spec.ops.get(op) if isinstance(op, str) else None
    if checker is None:
        raise ConditionError(f"unknown operator {op!r} for {field}; use {', '.join(spec.ops)}", f"{path}.op")
    if "value" not in item:
        raise ConditionError("a value is required", f"{path}.value")
    return {"field": field, "op": op, "value": checker(item["value"], f"{path}.value")}


# -- evaluation ---------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Case- and ё-insensitive form of ``text`` with runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", text.casefold().replace("ё", "е")).strip()


def matches(conditions: Mapping[str, Sequence[Mapping[str, Any]]], ctx: Context) -> bool:
    return combine(conditions, lambda c: holds(c, ctx))


def combine(
    conditions: Mapping[str, Sequence[Mapping[str, Any]]], test: Callable[[Mapping[str, Any]], bool]
) -> bool:
    """Every condition of ``all`` and, if ``any`` has some, one of them: the rule of both groups."""
    every = conditions.get("all") or []
    some = conditions.get("any") or []
    if not all(test(c) for c in every):
        return False
    return not some or any(test(c) for c in some)


def holds(condition: Mapping[str, Any], ctx: Context) -> bool:
    field, op, value = condition["field"], condition["op"], condition["value"]
    ticket = ctx.ticket
    if field.startswith("message."):
        # Without a message (a status change, an SLA event) no message condition holds.
        if ctx.message is None:
            return False
        if field == "message.text":
            text = fold(ctx.message.text)
            found = any(fold(phrase) in text for phrase in value)
            return found if op == "contains" else not found
        actual: Any = {
            "message.direction": ctx.message.direction,
            "message.author_type": ctx.message.author_type,
            "message.internal": ctx.message.internal,
        }[field]
        return _compare(op, actual, value)
    if field == "tags":
        wanted = set(value)
        if op == "includes_any":
            return bool(wanted & ticket.tags)
        if op == "includes_all":
            return wanted <= ticket.tags
        return not wanted & ticket.tags
    if field in figures.FIELDS:
        return figures.holds(ticket.customer_figures, field, op, value)
    if field == "business_hours":
        is_open = ctx.calendar.is_open(ctx.now)
        return is_open if value == "open" else not is_open
    if field.startswith("minutes_since_"):
        since = ticket.created_at if field == "minutes_since_created" else ticket.last_customer_message_at
        if since is None:
            return False
        elapsed = ctx.now - since
        limit = timedelta(minutes=value)
        return elapsed > limit if op == "more_than" else elapsed < limit
    if field == "priority" and op in ("at_least", "at_most"):
        rank, bound = PRIORITY_RANK.get(ticket.priority, 0), PRIORITY_RANK[value]
        return rank >= bound if op == "at_least" else rank <= bound
    actual = {
        "status": ticket.status,
        "priority": ticket.priority,
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "channel_type": ticket.channel_type,
        "topic": ticket.topic,
        "language": ticket.language,
        "customer.segment": ticket.customer_segment,
    }[field]
    if field in ("topic", "customer.segment", "channel_type") and isinstance(actual, str):
        actual = actual.casefold()
        value = (
            [v.casefold() if isinstance(v, str) else v for v in value]
            if isinstance(value, list)
            else (value.casefold() if isinstance(value, str) else value)
        )
    return _compare(op, actual, value)


def _compare(op: str, actual: Any, value: Any) -> bool:
    if op == "is":
        return bool(actual == value)
    if op == "is_not":
        return bool(actual != value)
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    raise ValueError(f"unknown operator {op!r}")  # validate() refuses it before it is stored
