"""Calibrated abstention: the bot answers only above a confidence threshold chosen on held-out data.

The admin states the largest share of wrong answers they accept among the answers the bot gives
(2% by default). Held-out predictions (cross-validated on the shop's own examples, plus
out-of-scope messages, which are wrong whatever intent is answered) are sorted by confidence, and
the threshold is the lowest one at which the answered part still respects that share. Lower
thresholds answer more; the operating curve shows the trade-off to the admin.

"Respects" means: the one-sided Clopper-Pearson upper bound of the wrong-answer share, at
:data:`CONFIDENCE`, is within the limit, not merely the observed share. A shop has a few hundred
examples, so the answered part near the threshold holds a few dozen of them; picking the lowest
threshold whose observed share fits is then an optimistic pick among noisy points (ru_support,
5-fold CV: at the 2% limit the held-out folds got 7.7% wrong answers). With the bound, zero
mistakes among n answers only certify a limit of about 1.6 / n at 80%, so a small model abstains
until the shop has given it enough examples (bench/RESULTS.md, ADR 0031).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta  # type: ignore[import-untyped]

# Above 1: no confidence reaches it, so a model without enough held-out data never answers.
NEVER = 1.01
# How sure the bot must be that its wrong-answer share is within the admin's limit.
CONFIDENCE = 0.8


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float
    answered: float  # share of held-out messages the bot would answer
    wrong: float  # share of those answers that would be wrong


def _sorted(confidences: Sequence[float], correct: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    return conf[order], ok[order]


def operating_curve(confidences: Sequence[float], correct: Sequence[bool]) -> list[CurvePoint]:
    """One point per distinct confidence: answer everything at or above it."""
    conf, ok = _sorted(confidences, correct)
    if conf.size == 0:
        return []
    wrong_so_far = np.cumsum(~ok)
    # Equal confidences are answered together, so only the last index of each run is a point.
    last_of_run = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    return [
        CurvePoint(float(conf[i]), (i + 1) / conf.size, float(wrong_so_far[i]) / (i + 1)) for i in last_of_run
    ]


def wrong_bound(wrong: int, answered: int, confidence: float = CONFIDENCE) -> float:
    """Upper bound of the true wrong-answer share after ``wrong`` mistakes in ``answered`` answers.

    ``confidence`` 0 gives the observed share itself (no margin).
    """
    if answered <= 0:
        return 1.0
    if confidence <= 0.0 or wrong >= answered:
        return wrong / answered
    return float(beta.ppf(confidence, wrong + 1, answered - wrong))


def fewest_to_prove(max_wrong_rate: float, confidence: float = CONFIDENCE) -> int:
    """How many held-out answers, all of them right, it takes before :func:`wrong_bound` allows
    ``max_wrong_rate``: the floor below which a model can never answer, whatever its quality.

    With no mistakes the bound is ``1 - (1 - confidence) ** (1 / n)``; solving for ``n`` gives the
    formula below (2% at 80% confidence: 80 answers). The admin screen tells a shop this number,
    since a bot that never answers otherwise looks broken rather than under-trained.
    """
    if not 0.0 < max_wrong_rate < 1.0:
        raise ValueError("max_wrong_rate must be in (0, 1)")
    if confidence <= 0.0:
        return 1
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - max_wrong_rate) - 1e-9)


def pick_threshold(
    confidences: Sequence[float],
    correct: Sequence[bool],
    max_wrong_rate: float,
    *,
    confidence: float = CONFIDENCE,
) -> float:
    """Lowest threshold whose answered held-out messages are, with ``confidence``, wrong at most
    ``max_wrong_rate`` of the time (see :func:`wrong_bound`).

    Returns :data:`NEVER` when no threshold qualifies (too few examples, or even the most confident
    answers are too often wrong).
    """
    if not 0.0 <= max_wrong_rate < 1.0:
        raise ValueError("max_wrong_rate must be in [0, 1)")
    if not 0.0 <= confidence < 1.0:
        raise ValueError("confidence must be in [0, 1)")
    best = NEVER
    total = len(confidences)
    for point in operating_curve(confidences, correct):
        answered = round(point.answered * total)
        wrong = round(point.wrong * answered)
        if wrong_bound(wrong, answered, confidence) <= max_wrong_rate + 1e-12:
            best = point.threshold
    return best


def at_threshold(confidences: Sequence[float], correct: Sequence[bool], threshold: float) -> CurvePoint:
    conf, ok = _sorted(confidences, correct)
    answered = conf >= threshold
    n = int(answered.sum())
    return CurvePoint(
        threshold, n / conf.size if conf.size else 0.0, float((~ok[answered]).sum()) / n if n else 0.0
    )
