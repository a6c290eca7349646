"""The intent classifier: sentence embeddings plus character n-grams, a softmax on top.

Embeddings carry meaning across paraphrases and across ru/en; character n-grams catch what a
shop's customers actually type (typos, translit, «возрат», order-number shapes) that the
encoder smooths away. A multinomial logistic regression over both is trained with scikit-learn,
but the trained model is kept as plain arrays (weights, idf, the n-gram columns it uses) so that
it is stored without pickle and predicts with numpy alone, in well under a millisecond.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from opora.bot.embeddings import Embedder
from opora.kit.char_ngrams import tfidf, vocabulary

FORMAT = 2
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True, slots=True)
class Params:
    """Tuned on CLINC150 validation data (bench/bot.py); see docs/adr/0019 and 0028."""

    c: float = 10.0
    char_weight: float = 1.0  # relative to the unit-length embedding (0.5 -> 1.0: CLINC val 94.6 -> 95.2%)
    ngram_min: int = 2
    ngram_max: int = 4
    max_iter: int = 300
    # Confidence is the best intent's probability minus the out-of-scope class's (ADR 0038).
    # Models stored before that keep the plain probability their threshold was chosen on.
    oos_margin: bool = True
    # Share of the nearest training phrases' vote in the probabilities; `engine.fit` picks it per
    # model on its cross-validation (ADR 0038). 0 stores no examples.
    knn_weight: float = 0.0
    knn_k: int = 10
    knn_temperature: float = 0.05


# Russian phrases lean less on character n-grams (ADR 0031): 5-fold CV accuracy with weight 0.5
# vs 1.0 on ru_support 65.2 vs 63.4%, and on the AutoIntent ru few-shot sets clinc150 90.3 vs
# 88.4%, massive 79.3 vs 75.6%, hwu64 70.0 vs 68.9%, banking77 60.8 vs 61.6%, minds14 88.6 vs 90.0%.
LANGUAGE_PARAMS: dict[str, Params] = {"ru": Params(char_weight=0.5)}


def params_for(language: str) -> Params:
    """The training parameters of a language's model; stored models keep the ones they were trained with."""
    return LANGUAGE_PARAMS.get(language, Params())


@dataclass
class IntentModel:
    """A trained model: ``classes`` are intent keys; rows of ``coef`` follow them."""

    classes: list[str]
    coef: NDArray[np.float32]  # (n_classes, 512 + n_cols)
    intercept: NDArray[np.float32]
    cols: NDArray[np.int64]
    idf: NDArray[np.float32]
    params: Params
    encoder: str
    # The training phrases' embeddings (stored as float16, half the size; float32 in memory so
    # that a message does not convert them all) and class indices, for
    # the neighbours' vote; empty unless knn_weight > 0.
    examples: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    example_classes: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def _chars(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return tfidf(texts, self.params.ngram_min, self.params.ngram_max, self.cols, self.idf)

    def features(self, texts: Sequence[str], embeddings: NDArray[np.float32]) -> sparse.csr_matrix:
        chars = self._chars(texts) * self.params.char_weight
        return sparse.hstack([sparse.csr_matrix(embeddings), chars]).tocsr()

    def probabilities(self, texts: Sequence[str], embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        # Dense part and sparse part separately: stacking them into one sparse matrix per
        # message costs more than both products.
        dim = embeddings.shape[1]
        chars = self._chars(texts)
        logits = np.asarray(embeddings, dtype=np.float64) @ self.coef[:, :dim].T.astype(np.float64)
        logits += np.asarray(chars @ self.coef[:, dim:].T, dtype=np.float64) * self.params.char_weight
        logits += self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        weight = self.params.knn_weight
        if weight > 0 and len(self.example_classes):
            result = (1 - weight) * result + weight * self.votes(embeddings)
        return result

    def votes(self, embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        """Class shares among the k training phrases nearest to each row (empty model: zeros)."""
        return neighbour_votes(
            embeddings, self.examples, self.example_classes, len(self.classes), self.params
        )

    def keep_examples(self, embeddings: NDArray[np.float32], labels: Sequence[str], weight: float) -> None:
        """Switch the neighbours' vote on with ``weight`` (0 drops the examples)."""
        self.params = replace(self.params, knn_weight=weight)
        if weight > 0:
            self.examples = np.asarray(embeddings, dtype=np.float16).astype(np.float32)
            self.example_classes = np.array([self.classes.index(label) for label in labels], dtype=np.int32)
        else:
            self.examples = np.zeros((0, 0), dtype=np.float32)
            self.example_classes = np.zeros(0, dtype=np.int32)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        meta = {
            "format": FORMAT,
            "classes": self.classes,
            "params": asdict(self.params),
            "encoder": self.encoder,
        }
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            coef=self.coef,
            intercept=self.intercept,
            cols=self.cols,
            idf=self.idf,
            examples=self.examples.astype(np.float16),
            example_classes=self.example_classes,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> IntentModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            if meta.get("format") not in READABLE_FORMATS:
                raise ValueError(f"unknown model format {meta.get('format')!r}")
            empty = meta["format"] < 2  # format 1 (before ADR 0038) stored no examples
            # Models stored before ADR 0038 chose their threshold on the plain probability.
            params = {"oos_margin": False, **meta["params"]}
            return cls(
                classes=list(meta["classes"]),
                coef=arrays["coef"],
                intercept=arrays["intercept"],
                cols=arrays["cols"],
                idf=arrays["idf"],
                params=Params(**params),
                encoder=str(meta["encoder"]),
                examples=np.zeros((0, 0), dtype=np.float32)
                if empty
                else arrays["examples"].astype(np.float32),
                example_classes=np.zeros(0, dtype=np.int32) if empty else arrays["example_classes"],
            )


def neighbour_votes(
    embeddings: NDArray[np.float32],
    examples: NDArray[np.float32],
    example_classes: NDArray[np.int32],
    n_classes: int,
    params: Params,
) -> NDArray[np.float64]:
    """Per row, the classes of the k most similar examples, each weighted by exp((cos - 1) / T).

    The linear model draws one region per intent; a phrase next to a few examples in an odd
    corner of an intent is what the neighbours add (BANKING77 validation, ADR 0038).
    """
    votes = np.zeros((len(embeddings), n_classes))
    if not len(example_classes) or not len(embeddings):
        return votes
    sims = np.asarray(embeddings, dtype=np.float32) @ np.asarray(examples, dtype=np.float32).T
    k = min(params.knn_k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    rows = np.broadcast_to(np.arange(len(sims))[:, None], top.shape)
    weights = np.exp((sims[rows, top].astype(np.float64) - 1.0) / params.knn_temperature)
    np.add.at(votes, (rows, example_classes[top]), weights)
    shares: NDArray[np.float64] = votes / np.maximum(votes.sum(axis=1, keepdims=True), 1e-300)
    return shares


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.float32],
    *,
    encoder: str,
    params: Params | None = None,
) -> IntentModel:
    """Fit on in-scope examples only; out-of-scope is left to the abstention threshold."""
    params = params or Params()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("an intent model needs at least two intents with examples")
    cols, idf = vocabulary(texts, params.ngram_min, params.ngram_max)
    model = IntentModel(
        classes=classes,
        coef=np.zeros((len(classes), embeddings.shape[1] + len(cols)), dtype=np.float32),
        intercept=np.zeros(len(classes), dtype=np.float32),
        cols=cols,
        idf=idf,
        params=params,
        encoder=encoder,
    )
    x = model.features(texts, embeddings)
    y = np.array([classes.index(label) for label in labels])
    with warnings.catch_warnings():
        # A few hundred lbfgs steps are enough for ranking; full convergence changes nothing measurable.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = LogisticRegression(C=params.c, max_iter=params.max_iter).fit(x, y)
    coef = np.asarray(fitted.coef_, dtype=np.float32)
    intercept = np.asarray(fitted.intercept_, dtype=np.float32)
    if len(classes) == 2:
        # Binary regression keeps one row; softmax over [0, w] gives the same sigmoid.
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    model.coef = coef
    model.intercept = intercept
    return model


def encode_and_train(
    texts: Sequence[str], labels: Sequence[str], embedder: Embedder, *, params: Params | None = None
) -> IntentModel:
    return train(texts, labels, embedder.encode(texts), encoder=embedder.name, params=params)
