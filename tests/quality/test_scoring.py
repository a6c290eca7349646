"""Scorecard rules without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opora.kit.errors import InvalidInput
from opora.quality import scoring

CARD = [
    {"key": "greeting", "label": "Greeting", "weight": 1},
    {"key": "accuracy", "label": "Accuracy", "weight": 3},
]


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ([], "criteria"),
        ([{"key": "Greeting", "label": "x", "weight": 1}], "criteria[0].key"),
        ([{"key": "a", "label": "x", "weight": 0}], "criteria[0].weight"),
        ([{"key": "a", "label": "x", "weight": 101}], "criteria[0].weight"),
        ([{"key": "a", "label": "x", "weight": True}], "criteria[0].weight"),
        ([{"key": "a", "label": " ", "weight": 1}], "criteria[0].label"),
        (
            [{"key": "a", "label": "x", "weight": 1}, {"key": "a", "label": "y", "weight": 2}],
            "criteria[1].key",
        ),
    ],
)
def test_bad_criteria_are_refused_by_field(criteria: list[dict[str, object]], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        scoring.check_criteria(criteria)
    assert caught.value.field == field


def test_the_total_is_the_weighted_share_of_the_top_score() -> None:
    assert scoring.weighted_total(CARD, {"greeting": 5, "accuracy": 5}) == 100.0
    assert scoring.weighted_total(CARD, {"greeting": 5, "accuracy": 0}) == 25.0
    # A criterion that does not apply leaves the others' weights to decide.
    assert scoring.weighted_total(CARD, {"greeting": None, "accuracy": 4}) == 80.0


def test_scores_must_cover_every_criterion_within_the_scale() -> None:
    with pytest.raises(InvalidInput, match="accuracy"):
        scoring.check_scores(CARD, {"greeting": 5})
    with pytest.raises(InvalidInput):
        scoring.check_scores(CARD, {"greeting": 6, "accuracy": 1})
    with pytest.raises(InvalidInput):
        scoring.check_scores(CARD, {"greeting": None, "accuracy": None})
    with pytest.raises(InvalidInput):
        scoring.check_scores(CARD, {"greeting": 1, "accuracy": 1, "tone": 2})


def test_trend_by_week_and_month() -> None:
    rows = [
        (datetime(2026, 11, 2, 10, tzinfo=UTC), 80.0),  # Monday
        (datetime(2026, 11, 8, 23, tzinfo=UTC), 60.0),  # Sunday, same week
        (datetime(2026, 11, 9, 1, tzinfo=UTC), 100.0),
    ]
    weeks = scoring.trend(rows, "week")
    assert [(p["period_start"].day, p["reviews"], p["average"]) for p in weeks] == [
        (2, 2, 70.0),
        (9, 1, 100.0),
    ]
    assert [(p["period_start"].day, p["reviews"]) for p in scoring.trend(rows, "month")] == [(1, 3)]
