"""Training on a tiny data set, predicting, abstaining, storing without pickle."""

from __future__ import annotations

import io
import json

import numpy as np

from opora.bot import calibration, engine
from opora.bot.classifier import IntentModel, Params, neighbour_votes
from opora.bot.models import OUT_OF_SCOPE
from tests.bot.fakes import WordHashEmbedder

DATA = {
    "order_status": [
        "where is my order",
        "order status please",
        "track my order",
        "my order has not arrived yet",
    ],
    "refund": ["I want my money back", "refund please", "when will I get a refund", "return my money"],
    "promo": [
        "promo code does not work",
        "discount code invalid",
        "coupon not applied",
        "my promo code fails",
    ],
}
OOS = [
    "what is the weather",
    "tell me a joke",
    "who won the football game",
    "how to cook pasta",
    "book a flight to paris",
    "play some music",
]


def _fit(max_wrong_rate: float = 0.05) -> engine.Fitted:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [k for k, ts in DATA.items() for _ in ts]
    emb = WordHashEmbedder()
    return engine.fit(
        texts,
        labels,
        emb.encode(texts),
        OOS,
        emb.encode(OOS),
        encoder=emb.name,
        max_wrong_rate=max_wrong_rate,
    )


def test_trains_predicts_and_round_trips() -> None:
    fitted = _fit()
    emb = WordHashEmbedder()
    texts = ["where is my order now", "refund my money please", "promo code does not work"]
    probs = fitted.model.probabilities(texts, emb.encode(texts))
    assert [fitted.model.classes[i] for i in probs.argmax(axis=1)] == ["order_status", "refund", "promo"]
    restored = IntentModel.from_bytes(fitted.model.to_bytes())
    assert np.allclose(restored.probabilities(texts, emb.encode(texts)), probs, atol=1e-5)
    assert 0 <= fitted.metrics["answered"] <= 1 and fitted.metrics["wrong"] <= 0.05


def test_out_of_scope_and_unsure_messages_are_not_answered() -> None:
    fitted = _fit()
    emb = WordHashEmbedder()
    text = ["completely unrelated gibberish xyzzy"]
    p = engine.decide(
        fitted.model.probabilities(text, emb.encode(text))[0],
        fitted.model.classes,
        threshold=fitted.threshold,
        oos_threshold=fitted.oos_threshold,
    )
    assert p.abstained and p.out_of_scope


def test_decide_is_pure() -> None:
    p = engine.decide(np.array([0.1, 0.85, 0.05]), ["a", "b", "c"], threshold=0.8, oos_threshold=0.3)
    assert (p.intent, p.abstained, p.out_of_scope) == ("b", False, False)
    q = engine.decide(np.array([0.4, 0.35, 0.25]), ["a", "b", "c"], threshold=0.8, oos_threshold=0.3)
    assert (q.intent, q.abstained, q.out_of_scope) == ("a", True, False)
    r = engine.decide(np.array([0.2, 0.25, 0.55]), ["a", "b", "c"], threshold=0.8, oos_threshold=0.6)
    assert r.abstained and r.out_of_scope and r.alternatives[0][0] == "b"


def test_enough_out_of_scope_phrases_become_a_class_that_is_never_answered() -> None:
    fitted = _fit()
    assert len(OOS) >= engine.MIN_OOS_CLASS and OUT_OF_SCOPE in fitted.model.classes
    emb = WordHashEmbedder()
    texts = ["what is the weather tomorrow", "where is my order"]
    probs = fitted.model.probabilities(texts, emb.encode(texts))
    best, conf = engine.best_in_scope(probs, fitted.model.classes)
    assert OUT_OF_SCOPE not in best and list(best)[1] == "order_status"
    oos = probs[:, fitted.model.classes.index(OUT_OF_SCOPE)]
    expected = [max(0.0, probs[i, fitted.model.classes.index(b)] - oos[i]) for i, b in enumerate(best)]
    assert np.allclose(conf, expected)
    weather = engine.decide(
        probs[0], fitted.model.classes, threshold=fitted.threshold, oos_threshold=fitted.oos_threshold
    )
    assert weather.intent != OUT_OF_SCOPE and weather.abstained and weather.out_of_scope
    assert all(name != OUT_OF_SCOPE for name, _ in weather.alternatives)
    # Every held-out phrase was scored out of fold: in-scope examples plus the out-of-scope ones.
    assert fitted.metrics["held_out"] == sum(len(v) for v in DATA.values()) + len(OOS)


def test_few_out_of_scope_phrases_only_calibrate() -> None:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [k for k, ts in DATA.items() for _ in ts]
    emb = WordHashEmbedder()
    few = OOS[: engine.MIN_OOS_CLASS - 1]
    fitted = engine.fit(
        texts, labels, emb.encode(texts), few, emb.encode(few), encoder=emb.name, max_wrong_rate=0.05
    )
    assert OUT_OF_SCOPE not in fitted.model.classes and fitted.metrics["held_out"] == len(texts) + len(few)


def test_confidence_is_the_margin_over_the_out_of_scope_class() -> None:
    classes = ["a", OUT_OF_SCOPE, "b"]
    # Same best probability, but a rival "not ours" lowers the confidence; a rival intent does not.
    sure = engine.decide(np.array([0.6, 0.05, 0.35]), classes, threshold=0.5, oos_threshold=0.1)
    doubtful = engine.decide(np.array([0.6, 0.35, 0.05]), classes, threshold=0.5, oos_threshold=0.1)
    assert sure.confidence == 0.55 and not sure.abstained
    assert doubtful.confidence == 0.25 and doubtful.abstained
    # Without an out-of-scope class the confidence is the probability; it never goes below zero.
    assert engine.decide(np.array([0.6, 0.4]), ["a", "b"], threshold=0.5, oos_threshold=0.1).confidence == 0.6
    _, conf = engine.best_in_scope(np.array([[0.3, 0.6, 0.1]]), classes)
    assert conf.tolist() == [0.0]


def test_decide_with_an_out_of_scope_class_on_top() -> None:
    classes = ["a", OUT_OF_SCOPE, "b"]
    p = engine.decide(np.array([0.3, 0.6, 0.1]), classes, threshold=0.5, oos_threshold=0.1)
    assert (p.intent, p.abstained, p.out_of_scope) == ("a", True, True)
    q = engine.decide(np.array([0.9, 0.08, 0.02]), classes, threshold=0.5, oos_threshold=0.1)
    assert (q.intent, q.abstained, q.out_of_scope, q.alternatives[0][0]) == ("a", False, False, "b")


def test_a_tiny_shop_cannot_certify_its_limit_and_the_bot_hands_off() -> None:
    """18 held-out phrases cannot show 5% wrong answers with 80% confidence, even if all are right."""
    fitted = _fit(0.05)
    assert fitted.threshold == calibration.NEVER
    assert fitted.metrics["answered"] == 0 and fitted.metrics["wrong_bound"] == 1.0
    emb = WordHashEmbedder()
    text = ["where is my order"]
    p = engine.decide(
        fitted.model.probabilities(text, emb.encode(text))[0],
        fitted.model.classes,
        threshold=fitted.threshold,
        oos_threshold=fitted.oos_threshold,
    )
    # The best guess is still shown to the agent; the bot itself does not answer.
    assert p.intent == "order_status" and p.abstained
    # A looser limit is certifiable with the same data (zero wrong in 18 bounds at 8.6%).
    loose = _fit(0.3)
    assert loose.threshold < calibration.NEVER and loose.metrics["wrong_bound"] <= 0.3


def test_a_model_stored_before_the_margin_keeps_the_plain_probability() -> None:
    model = _fit().model
    assert model.params.oos_margin
    assert IntentModel.from_bytes(model.to_bytes()).params.oos_margin
    # A format-1 blob (before ADR 0038) has no examples and no "oos_margin" or "knn_*" parameters.
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as arrays:
        stored = {name: arrays[name] for name in arrays.files if not name.startswith("example")}
    meta = json.loads(stored["meta"].tobytes().decode())
    meta["format"] = 1
    for name in ("oos_margin", "knn_weight", "knn_k", "knn_temperature"):
        del meta["params"][name]
    stored["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **stored)
    old = IntentModel.from_bytes(buffer.getvalue())
    assert not old.params.oos_margin and old.params.knn_weight == 0 and len(old.example_classes) == 0
    probs = np.array([0.6, 0.35, 0.05])
    classes = ["a", OUT_OF_SCOPE, "b"]
    kept = engine.decide(probs, classes, threshold=0.5, oos_threshold=0.1, oos_margin=old.params.oos_margin)
    assert kept.confidence == 0.6 and not kept.abstained


def test_neighbours_vote_for_the_classes_of_the_nearest_examples() -> None:
    examples = np.array([[1, 0], [0.96, 0.28], [0, 1]], dtype=np.float32)
    params = Params(knn_k=2, knn_temperature=0.05)
    votes = neighbour_votes(np.array([[1, 0]], dtype=np.float32), examples, np.array([0, 0, 1]), 2, params)
    assert votes.tolist() == [[1.0, 0.0]]
    # The nearer of two neighbours of different classes gets the larger share.
    mixed = neighbour_votes(
        np.array([[0.8, 0.6]], dtype=np.float32), examples, np.array([0, 1, 1]), 2, params
    )
    assert mixed[0, 1] > mixed[0, 0] > 0 and np.isclose(mixed.sum(), 1.0)
    assert not neighbour_votes(
        np.ones((1, 2), dtype=np.float32), examples[:0], np.zeros(0, np.int32), 2, params
    ).any()


def test_fit_picks_the_neighbours_weight_and_stores_the_examples_only_when_used() -> None:
    fitted = _fit()
    weight = fitted.model.params.knn_weight
    assert weight == 0.0  # four phrases per intent: below MIN_PHRASES_FOR_VOTE, no vote
    stored = IntentModel.from_bytes(fitted.model.to_bytes())
    assert stored.params.knn_weight == weight
    assert len(stored.example_classes) == (sum(map(len, DATA.values())) + len(OOS) if weight else 0)
    model = fitted.model
    model.keep_examples(np.eye(2, 8, dtype=np.float32), ["refund", "promo"], 0.5)
    again = IntentModel.from_bytes(model.to_bytes())
    assert again.params.knn_weight == 0.5 and again.example_classes.tolist() == [
        model.classes.index("refund"),
        model.classes.index("promo"),
    ]
    model.keep_examples(np.eye(2, 8, dtype=np.float32), ["refund", "promo"], 0.0)
    assert model.params.knn_weight == 0.0 and len(model.example_classes) == 0
