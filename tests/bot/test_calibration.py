"""The threshold picker keeps the wrong-answer share of held-out answers within the admin's limit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opora.bot.calibration import NEVER, at_threshold, operating_curve, pick_threshold

held_out = st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=200)


# No deadline: eight processes share two cores here, and a slow example is not a wrong one.
@settings(deadline=None)
@given(held_out, st.sampled_from([0.0, 0.01, 0.02, 0.1, 0.3]))
def test_picked_threshold_respects_the_wrong_answer_rate(
    data: list[tuple[float, bool]], limit: float
) -> None:
    conf = [c for c, _ in data]
    ok = [o for _, o in data]
    threshold = pick_threshold(conf, ok, limit)
    point = at_threshold(conf, ok, threshold)
    assert point.wrong <= limit + 1e-9
    if threshold != NEVER:
        # Nothing lower would answer more while staying within the limit.
        better = [p for p in operating_curve(conf, ok) if p.threshold < threshold and p.wrong <= limit]
        assert better == []


def test_curve_and_threshold_on_a_clear_case() -> None:
    conf = [0.99, 0.95, 0.9, 0.8, 0.6, 0.4]
    ok = [True, True, True, False, True, False]
    assert pick_threshold(conf, ok, 0.0) == 0.9
    assert pick_threshold(conf, ok, 0.2) == 0.6  # 1 wrong out of 5 answered
    curve = operating_curve(conf, ok)
    assert [round(p.answered, 2) for p in curve] == [0.17, 0.33, 0.5, 0.67, 0.83, 1.0]
    assert pick_threshold([0.9], [False], 0.02) == NEVER
