"""The intent classifier: sentence embeddings plus character n-grams, a softmax on top.

Embeddings carry meaning across paraphrases and across ru/en; character n-grams catch what a
shop's customers actually type (typos, translit, «возрат», order-number shapes) that the
encoder smooths away. A multinomial logistic regression over both is trained with scikit-learn,
but the trained model is kept as plain arrays (weights, idf, the n-gram columns it uses) so that
it is stored without pickle and predicts with numpy alone, in well under a millisecond.

The model also keeps the embeddings of its in-scope examples (float16). How close a message comes
to the nearest of them (:meth:`IntentModel.support`) scales the bot's confidence: a softmax is
sure of *some* intent even for a message unlike anything the shop wrote, while a message far from
every example is exactly what "not ours" looks like (CLINC150 validation, ADR 0031).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from opora.bot.embeddings import Embedder
from opora.bot.models import OUT_OF_SCOPE
from opora.kit.char_ngrams import tfidf, vocabulary

# Format 2 added the example embeddings; format 1 models load without them (support 1.0), so
# they decide exactly as when they were trained.
FORMAT = 2
READABLE = (1, 2)


@dataclass(frozen=True, slots=True)
class Params:
    """Tuned on CLINC150 validation data (bench/bot.py); see docs/adr/0019 and 0028."""

    c: float = 10.0
    char_weight: float = 1.0  # relative to the unit-length embedding (0.5 -> 1.0: CLINC val 94.6 -> 95.2%)
    ngram_min: int = 2
    ngram_max: int = 4
    max_iter: int = 300
    # Support = (mean cosine to the k nearest in-scope examples) ** power; CLINC150 validation,
    # in-scope accuracy at 85% / 95% val OOS recall: 95.2 / 92.0% without, 95.6 / 92.8% with.
    neighbours: int = 5
    support_power: float = 2.0


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
    exemplars: NDArray[np.float16] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))

    def support(self, embeddings: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per row, in [0, 1]: how close the message is to the shop's own examples (1.0 without them)."""
        rows = np.asarray(embeddings, dtype=np.float32)
        k = min(self.params.neighbours, len(self.exemplars))
        if k <= 0:
            return np.ones(len(rows))
        similarity = rows @ self.exemplars.T.astype(np.float32)
        nearest = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        closeness = np.clip(nearest.mean(axis=1).astype(np.float64), 0.0, 1.0)
        result: NDArray[np.float64] = closeness**self.params.support_power
        return result

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
        return result

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
            exemplars=self.exemplars,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> IntentModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            if meta.get("format") not in READABLE:
                raise ValueError(f"unknown model format {meta.get('format')!r}")
            exemplars = arrays["exemplars"] if "exemplars" in arrays.files else np.zeros((0, 0), np.float16)
            return cls(
                classes=list(meta["classes"]),
                coef=arrays["coef"],
                intercept=arrays["intercept"],
                cols=arrays["cols"],
                idf=arrays["idf"],
                params=Params(**meta["params"]),
                encoder=str(meta["encoder"]),
                exemplars=exemplars,
            )


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
    # Out-of-scope phrases are not examples of the shop's intents: being near one is no support.
    model.exemplars = np.asarray(embeddings, dtype=np.float16)[np.asarray(labels) != OUT_OF_SCOPE]
    return model


def encode_and_train(
    texts: Sequence[str], labels: Sequence[str], embedder: Embedder, *, params: Params | None = None
) -> IntentModel:
    return train(texts, labels, embedder.encode(texts), encoder=embedder.name, params=params)
