"""Which tickets an incident's rule takes in, and which linked tickets hear of an update: pure."""

from __future__ import annotations

from datetime import datetime

from opora.kit.time import as_utc


def fold(value: str | None) -> str:
    return " ".join((value or "").casefold().replace("ё", "е").split())


def rule_matches(
    *,
    rule_topic: str | None,
    rule_from: datetime | None,
    rule_until: datetime | None,
    ticket_topic: str | None,
    created_at: datetime,
) -> bool:
    """A ticket of the rule's topic created inside ``[rule_from, rule_until)``; open ends allowed."""
    if not rule_topic or fold(rule_topic) != fold(ticket_topic):
        return False
    created = as_utc(created_at)
    if rule_from is not None and created < as_utc(rule_from):
        return False
    return rule_until is None or created < as_utc(rule_until)


def reachable(status: str, merged: bool) -> bool:
    """A closed or merged ticket is finished for good: an update would reopen nothing and reach
    the customer on a thread they no longer follow."""
    return status != "closed" and not merged
