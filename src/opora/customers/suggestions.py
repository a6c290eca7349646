"""Suggested merges: weak signals that two records may be one person, for an agent to judge.

Pure functions. Nothing here merges: an identical e-mail or phone is already the same customer
(identities are unique), so whatever is left are hints an agent confirms or dismisses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Mailbox names shared by many people: matching them across domains means nothing by itself.
GENERIC_LOCAL_PARTS = frozenset(
    {
        "info",
        "admin",
        "support",
        "sales",
        "office",
        "mail",
        "contact",
        "hello",
        "noreply",
        "no-reply",
        "shop",
        "zakaz",
        "order",
        "orders",
        "post",
        "test",
    }
)
PHONE_DIGITS = 10  # the national part of a Russian number; enough to tell people apart elsewhere too
MIN_LOCAL_PART = 3


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    identities: tuple[tuple[str, str], ...]  # (kind, normalised value)


def phone_digits(kind: str, value: str) -> str | None:
    """The last ten digits of a phone-like identity (phone, WhatsApp and Viber ids are numbers)."""
    if kind not in ("phone", "whatsapp", "viber"):
        return None
    digits = "".join(ch for ch in value if ch.isascii() and ch.isdigit())
    return digits[-PHONE_DIGITS:] if len(digits) >= PHONE_DIGITS else None


def email_local(kind: str, value: str) -> str | None:
    if kind != "email" or "@" not in value:
        return None
    local = value.rsplit("@", 1)[0]
    return local if len(local) >= MIN_LOCAL_PART else None


def same_name(a: str, b: str) -> bool:
    left, right = " ".join(a.casefold().split()), " ".join(b.casefold().split())
    return bool(left) and left == right


def reasons(me: Person, other: Person) -> list[str]:
    """Why ``other`` may be ``me``; [] if there is no reason worth an agent's time."""
    mine_phones = {d for k, v in me.identities if (d := phone_digits(k, v))}
    mine_locals = {(local, v) for k, v in me.identities if (local := email_local(k, v))}
    found: list[str] = []
    if mine_phones & {d for k, v in other.identities if (d := phone_digits(k, v))}:
        found.append("phone_digits")
    names_match = same_name(me.name, other.name)
    for k, v in other.identities:
        local = email_local(k, v)
        if local is None:
            continue
        for mine_local, mine_value in mine_locals:
            # Same mailbox name on another domain; a generic one only together with the same name.
            if local == mine_local and v != mine_value and (names_match or local not in GENERIC_LOCAL_PARTS):
                found.append("email_local_part")
                break
        if "email_local_part" in found:
            break
    if found and names_match:
        found.append("same_name")
    return found


def suggest(
    me: Person, others: Iterable[Person], dismissed: Sequence[int] = ()
) -> list[tuple[Person, list[str]]]:
    """Candidates with reasons, strongest first (more reasons first, then lower id)."""
    skip = set(dismissed) | {me.id}
    result = [(other, found) for other in others if other.id not in skip and (found := reasons(me, other))]
    return sorted(result, key=lambda pair: (-len(pair[1]), pair[0].id))
