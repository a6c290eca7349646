"""Scorecard rules as pure functions: criteria validation, weighted totals, sampling filters."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opora.kit.errors import InvalidInput

MAX_SCORE = 5  # each criterion is scored 0..5, or left out (null) when it does not apply
MAX_CRITERIA = 20
MAX_WEIGHT = 100
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_criteria(raw: Sequence[Mapping[str, Any]], field: str = "criteria") -> list[dict[str, Any]]:
    """Criteria as stored: unique keys, a label, a whole weight 1..100; at least one."""
    if not raw:
        raise InvalidInput("A scorecard needs at least one criterion.", field=field)
    if len(raw) > MAX_CRITERIA:
        raise InvalidInput(f"At most {MAX_CRITERIA} criteria.", field=field)
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        key, label, weight = item.get("key"), item.get("label"), item.get("weight")
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInput(
                "A criterion key is 1 to 40 lower-case letters, digits or '_', starting with a letter.",
                field=f"{field}[{i}].key",
            )
        if key in seen:
            raise InvalidInput(f"The criterion key {key!r} is used twice.", field=f"{field}[{i}].key")
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= 200:
            raise InvalidInput(
                "A criterion needs a label of 1 to 200 characters.", field=f"{field}[{i}].label"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
            raise InvalidInput(
                f"A criterion weight is a whole number from 1 to {MAX_WEIGHT}.", field=f"{field}[{i}].weight"
            )
        seen.add(key)
        result.append({"key": key, "label": label.strip(), "weight": weight})
    return result


def check_scores(criteria: Sequence[Mapping[str, Any]], scores: Mapping[str, Any]) -> dict[str, int | None]:
    """Every criterion scored 0..5 or null (not applicable); at least one scored."""
    keys = [c["key"] for c in criteria]
    unknown = sorted(set(scores) - set(keys))
    if unknown:
        raise InvalidInput(f"No criterion {unknown[0]!r} on this scorecard.", field=f"scores.{unknown[0]}")
    result: dict[str, int | None] = {}
    for key in keys:
        if key not in scores:
            raise InvalidInput(
                f"Score the criterion {key!r} (or give null if it does not apply).", field=f"scores.{key}"
            )
        value = scores[key]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCORE
        ):
            raise InvalidInput(
                f"A score is a whole number from 0 to {MAX_SCORE}, or null.", field=f"scores.{key}"
            )
        result[key] = value
    if all(v is None for v in result.values()):
        raise InvalidInput("Score at least one criterion.", field="scores")
    return result


def weighted_total(criteria: Sequence[Mapping[str, Any]], scores: Mapping[str, int | None]) -> float:
    """0..100: the weighted mean of the applicable criteria, as a share of the top score."""
    weight_sum = 0
    points = 0.0
    for c in criteria:
        value = scores.get(c["key"])
        if value is None:
            continue
        weight_sum += int(c["weight"])
        points += int(c["weight"]) * value / MAX_SCORE
    return round(100 * points / weight_sum, 1) if weight_sum else 0.0


def period_start(moment: datetime, period: str) -> datetime:
    """The UTC start of the week (Monday) or month holding ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def trend(rows: Sequence[tuple[datetime, float]], period: str) -> list[dict[str, Any]]:
    """Average total and count per period, oldest first."""
    buckets: dict[datetime, list[float]] = {}
    for completed_at, total in rows:
        buckets.setdefault(period_start(completed_at, period), []).append(total)
    return [
        {"period_start": start, "reviews": len(values), "average": round(sum(values) / len(values), 1)}
        for start, values in sorted(buckets.items())
    ]
