"""The learned anger score: shipped weights load without pickle, train/store round-trips, it is cheap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from opora.ai import anger
from opora.ai.anger import ANGRY_AT, AngerModel
from opora.ai.enrich import enrich

ANGRY = ["это просто бесит, сколько можно ждать", "ненавижу ваш магазин", "вы издеваетесь надо мной"] * 4
CALM = ["спасибо, всё пришло", "подскажите время работы", "хочу уточнить адрес доставки"] * 4


def _tiny() -> AngerModel:
    return anger.train(ANGRY + CALM, [True] * len(ANGRY) + [False] * len(CALM), validation=0.5, min_df=1)


def test_train_scores_and_round_trip() -> None:
    model = _tiny()
    p = model.probabilities(["сколько можно, это бесит", "спасибо за доставку"])
    assert p[0] > p[1]
    restored = AngerModel.from_bytes(model.to_bytes())
    assert np.allclose(restored.probabilities(ANGRY[:3]), model.probabilities(ANGRY[:3]))
    # Scores keep the order of probabilities, and the model's own threshold lands on the rules'
    # "angry" mark, so enrichment can take the larger of the two scores.
    texts = [*ANGRY[:3], *CALM[:3], "бесит", "адрес", "сколько можно ждать доставку"]
    probs, scores = model.probabilities(texts), model.scores(texts)
    assert np.all(np.argsort(probs, kind="stable") == np.argsort(scores, kind="stable"))
    assert np.all((scores >= ANGRY_AT) == (probs >= model.threshold))
    assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_bad_training_data_and_bad_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        anger.train(["a", "b"], [True, False])
    with pytest.raises(ValueError, match="not an anger model"):
        AngerModel.from_bytes(b"not a model")
    model = _tiny()
    broken = AngerModel(
        coef=model.coef[:-1],
        intercept=model.intercept,
        cols=model.cols,
        idf=model.idf,
        ngram_min=2,
        ngram_max=4,
        threshold=model.threshold,
    )
    with pytest.raises(ValueError, match="inconsistent"):
        AngerModel.from_bytes(broken.to_bytes())


def test_shipped_model_is_used_by_enrichment_and_is_fast() -> None:
    model = anger.shipped()
    assert model is not None, "src/opora/ai/anger_model.npz is part of the package"
    text = "Вы издеваетесь? Третью неделю жду, ненавижу ваш сервис"
    learned = enrich(text)
    rules = enrich(text, learned_anger=False)
    assert learned.anger >= rules.anger
    assert learned.angry and not rules.angry
    # The rules still count: textbook support anger stays angry whatever the model says.
    assert enrich("ЭТО БЕЗОБРАЗИЕ!!! Верните деньги немедленно").angry
    assert not enrich("Спасибо, заказ пришёл вовремя").angry
    cpu = []
    for _ in range(30):
        start = time.thread_time()
        enrich(text)
        cpu.append(time.thread_time() - start)
    assert float(np.median(cpu)) < 0.005  # the budget for enrichment inside the inbound transaction
