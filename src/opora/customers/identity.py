"""Identity normalisation: one spelling per e-mail, phone or messenger id, so that lookups match.

Pure functions. Every value is normalised before it is stored or looked up, so normalising an
already normalised value returns it unchanged.
"""

from __future__ import annotations

import re
import unicodedata

from opora.customers.models import IdentityKind
from opora.kit.errors import InvalidInput

MAX_VALUE_LENGTH = 320  # the column's length
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What people put between digits when they write a phone number (incl. no-break space, dashes).
_PHONE_SEPARATORS = str.maketrans("", "", " \t\u00a0\u2009-\u2010\u2011\u2012\u2013\u2014().")
_E164_MAX_DIGITS = 15
_E164_MIN_DIGITS = 7
# Russia and Kazakhstan share +7; both have ten digits after it.
_ZONE7_DIGITS = 11


def parse_kind(kind: str, *, field: str = "kind") -> IdentityKind:
    try:
        return IdentityKind(kind.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in IdentityKind)
        raise InvalidInput(f"Unknown identity kind {kind!r}; use one of: {known}.", field=field) from None


def normalize_email(value: str, *, field: str = "value") -> str:
    email = value.strip().lower()
    if not email:
        raise InvalidInput("The e-mail address is empty.", field=field)
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"The e-mail address is longer than {MAX_EMAIL_LENGTH} characters.", field=field)
    if not _EMAIL.match(email):
        raise InvalidInput(f"{value.strip()!r} is not an e-mail address (name@domain.tld).", field=field)
    return email


def normalize_phone(value: str, *, field: str = "value") -> str:
    """Return E.164 (``+`` and digits).

    The desk serves Russian shops first, so a number written without ``+`` is read the Russian
    way: ``8`` and ten digits is a domestic number (``8`` is the trunk prefix, not the country),
    ten digits alone lack the ``7``, and ``00`` starts an international number. Any other number
    without ``+`` must already carry its country code.
    """
    raw = value.strip()
    if not raw:
        raise InvalidInput("The phone number is empty.", field=field)
    has_plus = raw.startswith("+")
    digits = (raw[1:] if has_plus else raw).translate(_PHONE_SEPARATORS)
    # str.isdigit alone would accept "²" or Arabic-Indic digits.
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise InvalidInput(
            f"{raw!r} is not a phone number: use digits, spaces, brackets, hyphens and a leading +.",
            field=field,
        )
    if not has_plus:
        digits = _add_country_code(raw, digits, field)
    if not _E164_MIN_DIGITS <= len(digits) <= _E164_MAX_DIGITS:
        raise InvalidInput(
            f"{raw!r} is not a phone number: international numbers have "
            f"{_E164_MIN_DIGITS} to {_E164_MAX_DIGITS} digits.",
            field=field,
        )
    if digits[0] == "0":
        raise InvalidInput(f"{raw!r} is not a phone number: a country code never starts with 0.", field=field)
    if digits[0] == "7" and len(digits) != _ZONE7_DIGITS:
        raise InvalidInput(f"{raw!r} is not a phone number: +7 is followed by ten digits.", field=field)
    return "+" + digits


def _add_country_code(raw: str, digits: str, field: str) -> str:
    if digits.startswith("00"):
        return digits[2:]
    if digits[0] == "8":
        if len(digits) != _ZONE7_DIGITS:
            raise InvalidInput(
                f"{raw!r} is not a phone number: a number starting with 8 has eleven digits.", field=field
            )
        return "7" + digits[1:]
    if len(digits) == _ZONE7_DIGITS - 1 and digits[0] != "0":
        return "7" + digits
    if len(digits) < _ZONE7_DIGITS:
        raise InvalidInput(
            f"{raw!r} is not a phone number: add the country code (for example +7).", field=field
        )
    return digits


def normalize_external_id(value: str, *, field: str = "value") -> str:
    """Messenger, chat and shop ids are opaque; only surrounding whitespace is dropped."""
    ident = value.strip()
    if not ident:
        raise InvalidInput("The identity value is empty.", field=field)
    if len(ident) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"The identity value is longer than {MAX_VALUE_LENGTH} characters.", field=field)
    # An inner space or a control character means a paste or parsing mistake, never a real id.
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in ident):
        raise InvalidInput("The identity value must not contain spaces or control characters.", field=field)
    return ident


def normalize_value(kind: IdentityKind, value: str, *, field: str = "value") -> str:
    if kind is IdentityKind.EMAIL:
        return normalize_email(value, field=field)
    if kind is IdentityKind.PHONE:
        return normalize_phone(value, field=field)
    return normalize_external_id(value, field=field)


def normalize(kind: str, value: str, *, field: str = "identity") -> tuple[IdentityKind, str]:
    """Validate and normalise one identity; errors name ``<field>.kind`` or ``<field>.value``."""
    prefix = f"{field}." if field else ""
    parsed = parse_kind(kind, field=f"{prefix}kind")
    return parsed, normalize_value(parsed, value, field=f"{prefix}value")
