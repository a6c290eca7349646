"""The threshold picker keeps the wrong-answer share of held-out answers within the admin's limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opora.bot.calibration import (
    NEVER,
    CurvePoint,
    at_threshold,
    fewest_to_prove,
    operating_curve,
    pick_threshold,
    wrong_bound,
)

held_out = st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=200)


# No deadline: eight processes share two cores here, and a slow example is not a wrong one.
@settings(deadline=None)
@given(held_out, st.sampled_from([0.0, 0.01, 0.02, 0.1, 0.3]), st.sampled_from([0.0, 0.5, 0.8, 0.95]))
def test_picked_threshold_respects_the_wrong_answer_rate(
    data: list[tuple[float, bool]], limit: float, confidence: float
) -> None:
    conf = [c for c, _ in data]
    ok = [o for _, o in data]
    threshold = pick_threshold(conf, ok, limit, confidence=confidence)
    point = at_threshold(conf, ok, threshold)
    assert point.wrong <= limit + 1e-9

    def bound(p: CurvePoint) -> float:
        answered = round(p.answered * len(conf))
        return wrong_bound(round(p.wrong * answered), answered, confidence)

    if threshold != NEVER:
        assert bound(point) <= limit + 1e-9
        # Nothing lower would answer more while staying within the limit.
        better = [
            p for p in operating_curve(conf, ok) if p.threshold < threshold and bound(p) <= limit + 1e-9
        ]
        assert better == []


def test_curve_and_threshold_on_a_clear_case() -> None:
    conf = [0.99, 0.95, 0.9, 0.8, 0.6, 0.4]
    ok = [True, True, True, False, True, False]
    # Without a margin: the observed share decides.
    assert pick_threshold(conf, ok, 0.0, confidence=0) == 0.9
    assert pick_threshold(conf, ok, 0.2, confidence=0) == 0.6  # 1 wrong out of 5 answered
    # With one: six examples certify nothing as strict as 20%.
    assert pick_threshold(conf, ok, 0.2) == NEVER
    curve = operating_curve(conf, ok)
    assert [round(p.answered, 2) for p in curve] == [0.17, 0.33, 0.5, 0.67, 0.83, 1.0]
    assert pick_threshold([0.9], [False], 0.02) == NEVER


def test_a_few_lucky_answers_do_not_certify_a_small_wrong_share() -> None:
    """Zero mistakes in 20 answers is what a 5%-wrong bot shows a third of the time."""
    few = [0.9] * 20
    assert pick_threshold(few, [True] * 20, 0.02) == NEVER
    assert pick_threshold(few, [True] * 20, 0.02, confidence=0) == 0.9
    # 81 clean answers bound the share below 2% at 80% confidence (1 - 0.2 ** (1 / 81) = 1.97%).
    many = [0.95] * 81 + [0.5] * 40
    ok = [True] * 81 + [True, False] * 20
    assert pick_threshold(many, ok, 0.02) == 0.95
    assert wrong_bound(0, 81) < 0.02 < wrong_bound(0, 79)
    assert wrong_bound(3, 10, confidence=0) == 0.3 and wrong_bound(0, 0) == 1.0


@given(st.sampled_from([0.005, 0.01, 0.02, 0.05, 0.1, 0.3]), st.sampled_from([0.5, 0.8, 0.95]))
def test_fewest_to_prove_is_the_first_count_of_clean_answers_the_bound_accepts(
    limit: float, confidence: float
) -> None:
    n = fewest_to_prove(limit, confidence)
    assert wrong_bound(0, n, confidence) <= limit + 1e-12
    assert n == 1 or wrong_bound(0, n - 1, confidence) > limit
    assert fewest_to_prove(0.02) == 80 and fewest_to_prove(0.1) == 16


@pytest.mark.parametrize("limit", [0.0, 1.0, -0.1])
def test_fewest_to_prove_refuses_a_limit_outside_zero_to_one(limit: float) -> None:
    with pytest.raises(ValueError, match="max_wrong_rate"):
        fewest_to_prove(limit)
