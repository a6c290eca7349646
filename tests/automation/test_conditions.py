"""Rule conditions as pure functions: validation names the bad part, evaluation needs no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opora.automation import conditions
from opora.automation.conditions import ConditionError, Context, MessageView, TicketView
from opora.sla.calendar import BusinessCalendar

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # Monday 12:30 in Moscow

TICKET = TicketView(
    id=7,
    status="new",
    priority="normal",
    team_id=2,
    assignee_id=None,
    channel_type="telegram",
    topic="Delivery",
    language="ru",
    tags=frozenset({"vip", "order"}),
    customer_segment="VIP",
    created_at=NOW - timedelta(minutes=90),
    last_customer_message_at=NOW - timedelta(minutes=5),
)
MESSAGE = MessageView(
    text="Здравствуйте! Где мой ЗАКАЗ? Хочу Вернуть деньги",
    direction="in",
    author_type="customer",
    internal=False,
)
OFFICE = BusinessCalendar(
    "Europe/Moscow", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
)


def ctx(
    *, ticket: TicketView = TICKET, message: MessageView | None = MESSAGE, now: datetime = NOW
) -> Context:
    return Context(ticket=ticket, event_kind="message_added", message=message, now=now, calendar=OFFICE)


def check(field: str, op: str, value: Any, context: Context | None = None) -> bool:
    normalised = conditions.validate({"all": [{"field": field, "op": op, "value": value}]})
    return conditions.matches(normalised, context or ctx())


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("status", "is", "new", True),
        ("status", "is_not", "new", False),
        ("status", "in", ["open", "pending"], False),
        ("status", "not_in", ["solved", "closed"], True),
        ("priority", "at_least", "normal", True),
        ("priority", "at_least", "high", False),
        ("priority", "at_most", "low", False),
        ("team_id", "is", 2, True),
        ("assignee_id", "is", None, True),
        ("channel_type", "in", ["telegram", "whatsapp"], True),
        ("topic", "is", "delivery", True),  # case-insensitive
        ("language", "is", "en", False),
        ("tags", "includes_any", ["vip", "b2b"], True),
        ("tags", "includes_all", ["vip", "b2b"], False),
        ("tags", "excludes", ["spam"], True),
        ("customer.segment", "is", "vip", True),
        ("customer.segment", "is", None, False),
        ("message.direction", "is", "in", True),
        ("message.author_type", "is", "customer", True),
        ("message.internal", "is", False, True),
        ("business_hours", "is", "open", True),
        ("minutes_since_created", "more_than", 60, True),
        ("minutes_since_created", "less_than", 60, False),
        ("minutes_since_customer_message", "less_than", 10, True),
    ],
)
def test_each_field_and_operator(field: str, op: str, value: Any, expected: bool) -> None:
    assert check(field, op, value) is expected


@pytest.mark.parametrize(
    ("phrases", "expected"),
    [
        ("заказ", True),  # the message says ЗАКАЗ
        (["refund", "вернуть деньги"], True),
        ("ВЕРНУТЬ   ДЕНЬГИ", True),  # whitespace collapsed, case folded
        ("где мой заказ", True),
        ("refund", False),
    ],
)
def test_text_contains_is_case_insensitive_in_russian_and_english(phrases: Any, expected: bool) -> None:
    assert check("message.text", "contains", phrases) is expected
    assert check("message.text", "not_contains", phrases) is not expected


def test_yo_and_ye_match_each_other() -> None:
    message = dataclasses.replace(MESSAGE, text="Ещё жду ответа")
    assert check("message.text", "contains", "еще жду", ctx(message=message))
    english = dataclasses.replace(MESSAGE, text="Where is my PARCEL?")
    assert check("message.text", "contains", "parcel", ctx(message=english))


def test_message_conditions_never_hold_without_a_message() -> None:
    assert not check("message.text", "contains", "заказ", ctx(message=None))
    assert not check("message.text", "not_contains", "заказ", ctx(message=None))
    assert not check("message.direction", "is", "in", ctx(message=None))


def test_business_hours_follow_the_team_calendar() -> None:
    evening = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 19:00 in Moscow
    assert check("business_hours", "is", "closed", ctx(now=evening))
    saturday_noon = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert check("business_hours", "is", "closed", ctx(now=saturday_noon))
    assert check("business_hours", "is", "open", ctx())


def test_time_since_the_customer_wrote_is_false_when_they_never_did() -> None:
    silent = dataclasses.replace(TICKET, last_customer_message_at=None)
    assert not check("minutes_since_customer_message", "more_than", 0, ctx(ticket=silent))


def test_all_and_any_groups() -> None:
    rule = conditions.validate(
        {
            "all": [{"field": "status", "op": "is", "value": "new"}],
            "any": [
                {"field": "tags", "op": "includes_any", "value": ["b2b"]},
                {"field": "message.text", "op": "contains", "value": "заказ"},
            ],
        }
    )
    assert conditions.matches(rule, ctx())
    no_order = dataclasses.replace(MESSAGE, text="Привет")
    assert not conditions.matches(rule, ctx(message=no_order))
    assert conditions.matches(conditions.validate({}), ctx())  # no conditions: always


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"all": [{"field": "mood", "op": "is", "value": "angry"}]}, "conditions.all[0].field"),
        ({"any": [{"field": "status", "op": "like", "value": "new"}]}, "conditions.any[0].op"),
        ({"all": [{"field": "status", "op": "is", "value": "frozen"}]}, "conditions.all[0].value"),
        ({"all": [{"field": "status", "op": "is"}]}, "conditions.all[0].value"),
        ({"all": [{"field": "tags", "op": "includes_any", "value": []}]}, "conditions.all[0].value"),
        ({"all": [{"field": "team_id", "op": "is", "value": "two"}]}, "conditions.all[0].value"),
        (
            {"all": [{"field": "minutes_since_created", "op": "more_than", "value": -5}]},
            "conditions.all[0].value",
        ),
        ({"all": [{"field": "status", "op": "is", "value": "new", "extra": 1}]}, "conditions.all[0]"),
        ({"none": []}, "conditions"),
        ({"all": {"field": "status"}}, "conditions.all"),
        ({"all": [{"field": "status", "op": "in", "value": ["new", "zzz"]}]}, "conditions.all[0].value[1]"),
    ],
)
def test_invalid_conditions_name_the_bad_part(raw: Any, path: str) -> None:
    with pytest.raises(ConditionError) as caught:
        conditions.validate(raw)
    assert caught.value.path == path


def test_validation_normalises_values() -> None:
    rule = conditions.validate({"all": [{"field": "tags", "op": "includes_any", "value": " VIP "}]})
    assert rule == {"all": [{"field": "tags", "op": "includes_any", "value": ["vip"]}], "any": []}
