"""Amounts as integers of the currency's minor unit: exact, and summable in SQL on both backends."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 exponents that differ from 2; every other currency has kopecks or cents.
_EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "UGX": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
}
MAX_MINOR = 10**15  # far above any order; keeps values inside BIGINT after summing


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def parse_amount(value: object) -> Decimal:
    """A decimal from a JSON number or string ("1 990,50" and "1990.50" both work); ValueError if not."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact conversion; a value with more decimals than the currency has is refused, not rounded."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    minor = int(scaled)
    if abs(minor) >= MAX_MINOR:
        raise ValueError(f"{amount} is too large")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    places = exponent(currency)
    return (Decimal(minor).scaleb(-places)).quantize(Decimal(1).scaleb(-places))
