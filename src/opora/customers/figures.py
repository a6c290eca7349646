"""A customer's lifetime figures as plain data, and conditions on them.

The figures live on the customer row (kept by :mod:`opora.customers.segments`), so automation
rules, segment rules and SLA policies read them with the customer and never count anything per
ticket. The condition vocabulary here is shared: automation rule conditions (fields
``customer.tickets`` …) and segment rules use the same names, operators and values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from opora.shop.money import from_minor

MAX_COUNT = 10_000_000
MAX_SPEND = Decimal(10) ** 12
OPERATORS = ("at_least", "at_most", "more_than", "less_than")


class HasFigures(Protocol):
    tickets_count: int
    orders_count: int
    total_spent_minor: int
    spend_currency: str | None
    csat_count: int
    csat_total: int


@dataclass(frozen=True, slots=True)
class Figures:
    tickets: int
    orders: int
    spend: Decimal  # in ``currency``, the one most of the customer's orders use
    currency: str | None
    csat_average: float | None  # None until the customer has rated a conversation
    csat_responses: int


def of(customer: HasFigures) -> Figures:
    responses = customer.csat_count or 0
    return Figures(
        tickets=customer.tickets_count or 0,
        orders=customer.orders_count or 0,
        spend=from_minor(customer.total_spent_minor or 0, customer.spend_currency or "RUB"),
        currency=customer.spend_currency,
        csat_average=round((customer.csat_total or 0) / responses, 2) if responses else None,
        csat_responses=responses,
    )


# -- values -------------------------------------------------------------------------------------

# A checker returns the value as stored in a rule, or raises ValueError with a reason.
Checker = Callable[[Any], Any]


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        number = Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a number")
    return number


def _count(value: Any) -> int:
    number = _number(value)
    if number != number.to_integral_value() or not 0 <= number <= MAX_COUNT:
        raise ValueError(f"must be a whole number from 0 to {MAX_COUNT}")
    return int(number)


def _money(value: Any) -> str:
    number = _number(value)
    if not 0 <= number < MAX_SPEND or number.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("must be an amount from 0 with at most two decimals")
    return str(number)  # kept as text in the rule's JSON, so it stays exact


def _rating(value: Any) -> float:
    number = _number(value)
    if not 1 <= number <= 5:
        raise ValueError("must be a rating from 1 to 5")
    return float(number)


FIELDS: dict[str, Checker] = {
    "customer.tickets": _count,
    "customer.orders": _count,
    "customer.spend": _money,
    "customer.csat_average": _rating,
}


def check(field: str, value: Any) -> Any:
    return FIELDS[field](value)


# -- evaluation ---------------------------------------------------------------------------------


def actual(figures: Figures, field: str) -> Decimal | int | float | None:
    found: dict[str, Decimal | int | float | None] = {
        "customer.tickets": figures.tickets,
        "customer.orders": figures.orders,
        "customer.spend": figures.spend,
        "customer.csat_average": figures.csat_average,
    }
    return found[field]


def holds(figures: Figures | None, field: str, op: str, value: Any) -> bool:
    """A customer without figures (no customer) or without ratings never matches a bound."""
    if figures is None:
        return False
    found = actual(figures, field)
    if found is None:
        return False
    have, bound = Decimal(str(found)), Decimal(str(value))
    return _COMPARE[op](have, bound)


_COMPARE: Mapping[str, Callable[[Decimal, Decimal], bool]] = {
    "at_least": lambda a, b: a >= b,
    "at_most": lambda a, b: a <= b,
    "more_than": lambda a, b: a > b,
    "less_than": lambda a, b: a < b,
}
