"""Training with held-out calibration, and the decision for one message: pure over plain data.

``fit`` cross-validates on the shop's examples so that every example is scored by a model that
never saw it, scores the out-of-scope phrases with the full model (they are never trained on),
and picks two thresholds from those held-out confidences:

- ``threshold``: the bot answers at or above it; chosen so that, with 80% confidence, held-out
  answers are wrong at most ``max_wrong_rate`` of the time
  (:func:`opora.bot.calibration.pick_threshold`); with too few examples it is
  :data:`~opora.bot.calibration.NEVER` and the bot hands every message to a person;
- ``oos_threshold``: below it the message is called out of scope rather than merely unsure; it
  lets 95% of held-out in-scope messages through, so it is rarely wrong about "not ours".

Both compare the same confidence, :func:`margin`: the best intent's probability minus that of
the out-of-scope class (when the shop has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from opora.bot import calibration
from opora.bot.classifier import IntentModel, Params, train
from opora.bot.models import OUT_OF_SCOPE

FOLDS = 5
# With this many out-of-scope phrases they also become a class of their own: "not ours" then has
# a region of its own instead of being only "no intent is sure" (CLINC150 validation: in-scope
# accuracy at 85% out-of-scope recall 93.9% -> 94.6%). Fewer phrases only calibrate the threshold.
MIN_OOS_CLASS = 5
# The neighbours' vote helps some shops and hurts others (validation accuracy, ADR 0038: BANKING77
# 91.05 -> 91.60% with 0.2, CLINC150 96.0 -> 95.5%), so each model's cross-validation picks.
KNN_WEIGHTS = (0.0, 0.2)
# With few phrases per intent the choice is noise: ru_support (12 per intent) lost accuracy
# 65.2 -> 63.1% when its folds chose; BANKING77 (35-187 per intent) gained 92.7 -> 93.2% on test.
# Below this many phrases in the smallest intent the vote is not considered.
MIN_PHRASES_FOR_VOTE = 30
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
    oos_margin: bool = True,
) -> Prediction:
    """The answer for one message; an out-of-scope class, if the model has one, is never answered.

    ``oos_margin`` false: the confidence is the plain probability (models trained before ADR 0038).
    """
    order = [int(i) for i in np.argsort(-probabilities) if classes[int(i)] != OUT_OF_SCOPE]
    best = order[0]
    oos = float(probabilities[list(classes).index(OUT_OF_SCOPE)]) if OUT_OF_SCOPE in classes else 0.0
    oos_on_top = oos > float(probabilities[best])
    confidence = margin(float(probabilities[best]), oos if oos_margin else 0.0)
    abstained = confidence < threshold
    return Prediction(
        intent=classes[best],
        confidence=round(confidence, 4),
        abstained=abstained,
        out_of_scope=abstained and (oos_on_top or confidence < oos_threshold),
        model_version=model_version,
        threshold=threshold,
        alternatives=tuple((classes[i], round(float(probabilities[i]), 4)) for i in order[1:top]),
    )


def margin(best: float, oos: float) -> float:
    """The bot's confidence: the best intent's probability minus the out-of-scope class's, >= 0.

    Without an out-of-scope class it is the probability itself. With one, a message that is
    "probably ours, but maybe not ours at all" ranks below one whose rival is another intent:
    CLINC150 validation, in-scope accuracy at 85% / 90% out-of-scope recall (200 held-out
    out-of-scope phrases, two half models): 95.0 / 93.6% with the probability, 95.3 / 94.6%
    with the margin (ADR 0038).
    """
    return max(0.0, best - oos)


def best_in_scope(
    probabilities: NDArray[np.float64], classes: Sequence[str], *, oos_margin: bool = True
) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """Per row: the most probable intent other than the out-of-scope class, and the confidence
    in it (:func:`margin`)."""
    p = np.array(probabilities, dtype=np.float64)
    oos = np.zeros(len(p))
    if OUT_OF_SCOPE in classes:
        column = list(classes).index(OUT_OF_SCOPE)
        if oos_margin:
            oos = p[:, column].copy()
        p[:, column] = -1.0
    best = p.argmax(axis=1)
    return np.asarray(classes)[best], np.maximum(0.0, p[np.arange(len(p)), best] - oos)


def train_model(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.float32],
    oos_texts: Sequence[str],
    oos_embeddings: NDArray[np.float32],
    *,
    encoder: str,
    params: Params | None = None,
) -> IntentModel:
    """The shop's intents, plus an explicit out-of-scope class when there are enough such phrases."""
    if len(oos_texts) >= MIN_OOS_CLASS:
        texts = [*texts, *oos_texts]
        labels = [*labels, *([OUT_OF_SCOPE] * len(oos_texts))]
        embeddings = np.concatenate([embeddings, oos_embeddings])
    return train(texts, labels, embeddings, encoder=encoder, params=params)


def held_out_confidences(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.float32],
    *,
    encoder: str,
    params: Params | None = None,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.bool_], float]:
    """Out-of-fold confidence and correctness for every example, and the neighbours' weight.

    Examples labelled :data:`OUT_OF_SCOPE` take part like an intent, but their best in-scope
    guess is always wrong, and confidence is always that of the best in-scope intent. Each fold
    model is scored with and without the neighbours' vote (the same fit, so it costs no
    training); the weight of :data:`KNN_WEIGHTS` with the best out-of-fold in-scope accuracy is
    returned and its confidences are the ones given. Intents with fewer than
    :data:`MIN_PHRASES_FOR_VOTE` phrases get no vote (weight 0, the linear model alone).
    """
    params = params or Params()
    y = np.asarray(labels)
    classes = sorted(set(labels))
    smallest = min(int((y == c).sum()) for c in classes)
    folds = max(2, min(FOLDS, smallest))
    smallest_intent = min(int((y == c).sum()) for c in classes if c != OUT_OF_SCOPE)
    candidates = KNN_WEIGHTS if smallest_intent >= MIN_PHRASES_FOR_VOTE else (0.0,)
    linear = np.zeros((len(texts), len(classes)))
    votes = np.zeros((len(texts), len(classes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        model = train(
            [texts[i] for i in train_idx],
            list(y[train_idx]),
            embeddings[train_idx],
            encoder=encoder,
            params=replace(params, knn_weight=0.0),
        )
        # Every fold holds every class (stratified, folds <= the smallest class), so the fold
        # model's columns are the full model's.
        linear[test_idx] = model.probabilities([texts[i] for i in test_idx], embeddings[test_idx])
        if len(candidates) > 1:
            model.keep_examples(embeddings[train_idx], list(y[train_idx]), 1.0)
            votes[test_idx] = model.votes(embeddings[test_idx])
    in_scope = y != OUT_OF_SCOPE
    best_weight, best_accuracy = 0.0, -1.0
    for weight in candidates:
        guess = np.asarray(classes)[((1 - weight) * linear + weight * votes).argmax(axis=1)]
        accuracy = float((guess == y)[in_scope].mean()) if in_scope.any() else 0.0
        if accuracy > best_accuracy + 1e-12:  # ties keep the smaller model (no examples stored)
            best_weight, best_accuracy = weight, accuracy
    best, confidence = best_in_scope(
        (1 - best_weight) * linear + best_weight * votes, classes, oos_margin=params.oos_margin
    )
    return confidence, best == y, best_weight


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
    model = train_model(texts, labels, embeddings, oos_texts, oos_embeddings, encoder=encoder, params=params)
    if len(oos_texts) >= MIN_OOS_CLASS:
        # Out-of-scope phrases are trained on, so they are scored out of fold like the rest.
        all_labels = [*labels, *([OUT_OF_SCOPE] * len(oos_texts))]
        all_embeddings = np.concatenate([embeddings, oos_embeddings])
        conf, ok, weight = held_out_confidences(
            [*texts, *oos_texts], all_labels, all_embeddings, encoder=encoder, params=params
        )
        model.keep_examples(all_embeddings, all_labels, weight)
    else:
        conf, ok, weight = held_out_confidences(texts, labels, embeddings, encoder=encoder, params=params)
        model.keep_examples(embeddings, labels, weight)
        if len(oos_texts):
            _, oos_conf = best_in_scope(
                model.probabilities(oos_texts, oos_embeddings),
                model.classes,
                oos_margin=model.params.oos_margin,
            )
            conf = np.concatenate([conf, oos_conf])
            ok = np.concatenate([ok, np.zeros(len(oos_texts), dtype=bool)])
    threshold = calibration.pick_threshold(list(conf), list(ok), max_wrong_rate)
    in_scope = conf[: len(texts)]
    oos_threshold = float(np.quantile(in_scope, 1 - IN_SCOPE_KEPT))
    at = calibration.at_threshold(list(conf), list(ok), threshold)
    answered = conf >= threshold
    curve = calibration.operating_curve(list(conf), list(ok))
    step = max(1, len(curve) // CURVE_POINTS)
    metrics: dict[str, Any] = {
        "held_out": len(conf),
        "accuracy": round(float(ok[: len(texts)].mean()), 4),
        "answered": round(at.answered, 4),
        "wrong": round(at.wrong, 4),
        # What the admin can rely on: the wrong-answer share is below this with `confidence`.
        "wrong_bound": round(calibration.wrong_bound(int((~ok[answered]).sum()), int(answered.sum())), 4),
        "confidence": calibration.CONFIDENCE,
        "oos_recall": round(float((conf[len(texts) :] < threshold).mean()), 4) if len(oos_texts) else None,
        "curve": [[round(p.threshold, 4), round(p.answered, 4), round(p.wrong, 4)] for p in curve[::step]],
    }
    return Fitted(model, threshold, oos_threshold, metrics)
