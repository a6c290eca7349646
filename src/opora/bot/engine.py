"""Training with held-out calibration, and the decision for one message: pure over plain data.

``fit`` cross-validates on the shop's examples so that every example is scored by a model that
never saw it, scores the out-of-scope phrases with the full model (they are never trained on),
and picks two thresholds from those held-out confidences:

- ``threshold``: the bot answers at or above it; chosen so that held-out answers are wrong at
  most ``max_wrong_rate`` of the time (:func:`opora.bot.calibration.pick_threshold`);
- ``oos_threshold``: below it the message is called out of scope rather than merely unsure; it
  lets 95% of held-out in-scope messages through, so it is rarely wrong about "not ours".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from opora.bot import calibration
from opora.bot.classifier import IntentModel, Params, train

FOLDS = 5
IN_SCOPE_KEPT = 0.95
CURVE_POINTS = 25


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the bot concluded about one message.

    ``intent`` is the best intent even when abstaining (agents see it as a hint); the bot answers
    only when ``abstained`` is false. ``out_of_scope`` means no intent of the shop fits at all.
    """

    intent: str | None
    confidence: float
    abstained: bool
    out_of_scope: bool
    model_version: int | None = None
    threshold: float | None = None
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass
class Fitted:
    model: IntentModel
    threshold: float
    oos_threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)


def decide(
    probabilities: NDArray[np.float64],
    classes: Sequence[str],
    *,
    threshold: float,
    oos_threshold: float,
    model_version: int | None = None,
    top: int = 3,
) -> Prediction:
    order = np.argsort(-probabilities)
    best = int(order[0])
    confidence = float(probabilities[best])
    return Prediction(
        intent=classes[best],
        confidence=round(confidence, 4),
        abstained=confidence < threshold,
        out_of_scope=confidence < min(oos_threshold, threshold),
        model_version=model_version,
        threshold=threshold,
        alternatives=tuple((classes[int(i)], round(float(probabilities[int(i)]), 4)) for i in order[1:top]),
    )


def held_out_confidences(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.float32],
    *,
    encoder: str,
    params: Params | None = None,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Out-of-fold confidence and correctness for every example."""
    y = np.asarray(labels)
    smallest = min(int((y == c).sum()) for c in set(labels))
    folds = max(2, min(FOLDS, smallest))
    confidence = np.zeros(len(texts))
    correct = np.zeros(len(texts), dtype=bool)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        model = train(
            [texts[i] for i in train_idx],
            list(y[train_idx]),
            embeddings[train_idx],
            encoder=encoder,
            params=params,
        )
        probs = model.probabilities([texts[i] for i in test_idx], embeddings[test_idx])
        confidence[test_idx] = probs.max(axis=1)
        correct[test_idx] = np.asarray(model.classes)[probs.argmax(axis=1)] == y[test_idx]
    return confidence, correct


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.float32],
    oos_texts: Sequence[str],
    oos_embeddings: NDArray[np.float32],
    *,
    encoder: str,
    max_wrong_rate: float,
    params: Params | None = None,
) -> Fitted:
    counts = {label: labels.count(label) for label in set(labels)}
    if len(counts) < 2 or min(counts.values()) < 2:
        raise ValueError("every intent needs at least two example phrases, and there must be two intents")
    conf, ok = held_out_confidences(texts, labels, embeddings, encoder=encoder, params=params)
    model = train(texts, labels, embeddings, encoder=encoder, params=params)
    if len(oos_texts):
        oos_conf = model.probabilities(oos_texts, oos_embeddings).max(axis=1)
        conf = np.concatenate([conf, oos_conf])
        ok = np.concatenate([ok, np.zeros(len(oos_texts), dtype=bool)])
    threshold = calibration.pick_threshold(list(conf), list(ok), max_wrong_rate)
    in_scope = conf[: len(texts)]
    oos_threshold = float(np.quantile(in_scope, 1 - IN_SCOPE_KEPT))
    at = calibration.at_threshold(list(conf), list(ok), threshold)
    curve = calibration.operating_curve(list(conf), list(ok))
    step = max(1, len(curve) // CURVE_POINTS)
    metrics: dict[str, Any] = {
        "held_out": len(conf),
        "accuracy": round(float(ok[: len(texts)].mean()), 4),
        "answered": round(at.answered, 4),
        "wrong": round(at.wrong, 4),
        "oos_recall": round(float((conf[len(texts) :] < threshold).mean()), 4) if len(oos_texts) else None,
        "curve": [[round(p.threshold, 4), round(p.answered, 4), round(p.wrong, 4)] for p in curve[::step]],
    }
    return Fitted(model, threshold, oos_threshold, metrics)
