"""Variables in texts written by admins: ``{{customer.name}}``, ``{{ticket.number}}``, ...

Canned responses, auto-replies and rule actions all fill texts this way. It is deliberately not
Jinja: an admin's text must never run code or reach attributes, only look names up in a flat
mapping the caller prepared. An unknown name is left as written, so a typo shows up in the
preview instead of silently vanishing; a known name whose value is missing becomes its
``|fallback`` (``{{customer.name|клиент}}``) or the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_PATTERN = re.compile(r"\{\{\s*([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\s*(?:\|([^{}]*))?\}\}")

# The names every caller offers; a caller may offer fewer (no ticket yet) or more.
KNOWN = (
    "customer.name",
    "customer.first_name",
    "customer.email",
    "ticket.number",
    "ticket.subject",
    "ticket.status",
    "agent.name",
    "agent.first_name",
    "order.number",
    "shop.name",
    "sla.expected_reply",
)


def render(text: str, values: Mapping[str, str | None], *, known: Iterable[str] = KNOWN) -> str:
    names = set(known) | set(values)

    def fill(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name not in names:
            return match.group(0)
        value = values.get(name)
        if value is None or value == "":
            return (fallback or "").strip()
        return value

    return _PATTERN.sub(fill, text)


def names_in(text: str) -> list[str]:
    """The variable names ``text`` uses, in order of first use (for previews and validation)."""
    seen: dict[str, None] = {}
    for match in _PATTERN.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_in(text: str, *, known: Iterable[str] = KNOWN) -> list[str]:
    allowed = set(known)
    return [name for name in names_in(text) if name not in allowed]
