"""Lifetime figures as conditions: pure checks, no database."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from opora.automation import conditions
from opora.automation.conditions import FIGURE_FIELDS, ConditionError
from opora.customers import figures, segments
from opora.customers.figures import Figures
from opora.customers.segments import RuleData


@dataclass
class Row:
    tickets_count: int = 0
    orders_count: int = 0
    total_spent_minor: int = 0
    spend_currency: str | None = None
    csat_count: int = 0
    csat_total: int = 0


def test_figures_of_a_row() -> None:
    found = figures.of(Row(3, 12, 5_000_050, "RUB", 3, 10))
    assert found == Figures(
        tickets=3, orders=12, spend=Decimal("50000.50"), currency="RUB", csat_average=3.33, csat_responses=3
    )
    assert figures.of(Row()).csat_average is None


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("customer.spend", "at_least", "50000", True),
        ("customer.spend", "at_least", "50000.51", False),
        ("customer.spend", "more_than", "50000.50", False),
        ("customer.orders", "at_least", 12, True),
        ("customer.orders", "less_than", 12, False),
        ("customer.tickets", "at_most", 3, True),
        ("customer.csat_average", "at_most", 3.5, True),
        ("customer.csat_average", "more_than", 3.33, False),
    ],
)
def test_holds(field: str, op: str, value: Any, expected: bool) -> None:
    found = figures.of(Row(3, 12, 5_000_050, "RUB", 3, 10))
    assert figures.holds(found, field, op, value) is expected


def test_no_ratings_and_no_customer_match_no_bound() -> None:
    found = figures.of(Row())
    assert not figures.holds(found, "customer.csat_average", "at_most", 5)
    assert not figures.holds(found, "customer.csat_average", "at_least", 1)
    assert not figures.holds(None, "customer.orders", "at_least", 0)


@pytest.mark.parametrize(
    ("condition", "path", "reason"),
    [
        ({"field": "customer.orders", "op": "at_least", "value": -1}, "value", "whole number"),
        ({"field": "customer.orders", "op": "at_least", "value": 1.5}, "value", "whole number"),
        ({"field": "customer.orders", "op": "at_least", "value": True}, "value", "number"),
        ({"field": "customer.spend", "op": "at_least", "value": "1.001"}, "value", "two decimals"),
        ({"field": "customer.spend", "op": "at_least", "value": "много"}, "value", "number"),
        ({"field": "customer.spend", "op": "at_least", "value": "NaN"}, "value", "number"),
        ({"field": "customer.csat_average", "op": "at_most", "value": 6}, "value", "rating"),
        ({"field": "customer.orders", "op": "is", "value": 1}, "op", "operator"),
    ],
)
def test_bad_figure_conditions_name_the_part(condition: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        conditions.validate({"all": [condition]})
    assert caught.value.path == f"conditions.all[0].{path}"
    assert reason in str(caught.value)


def test_values_are_normalised_and_segment_rules_know_only_figures() -> None:
    checked = conditions.validate(
        {
            "all": [
                {"field": "customer.spend", "op": "at_least", "value": "50 000,00"},
                {"field": "customer.orders", "op": "at_least", "value": "10"},
            ]
        },
        fields=FIGURE_FIELDS,
    )
    assert [c["value"] for c in checked["all"]] == ["50000.00", 10]
    with pytest.raises(ConditionError) as caught:
        conditions.validate({"all": [{"field": "status", "op": "is", "value": "new"}]}, fields=FIGURE_FIELDS)
    assert caught.value.path == "conditions.all[0].field"


def test_first_matching_rule_wins() -> None:
    vip = RuleData(1, "vip", {"any": [{"field": "customer.spend", "op": "at_least", "value": "50000"}]})
    loyal = RuleData(2, "loyal", {"all": [{"field": "customer.orders", "op": "at_least", "value": 10}]})
    rich = figures.of(Row(0, 12, 6_000_000, "RUB"))
    regular = figures.of(Row(0, 11, 100, "RUB"))
    assert segments.choose([vip, loyal], rich) is vip
    assert segments.choose([loyal, vip], rich) is loyal
    assert segments.choose([vip, loyal], regular) is loyal
    assert segments.choose([vip], regular) is None
