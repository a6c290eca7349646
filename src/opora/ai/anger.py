"""A learned anger score: logistic regression over character n-grams, numpy-only at run time.

The word rules in :mod:`opora.ai.enrich` know the support vocabulary of anger («безобразие»,
"refund now!!!") but miss most anger phrased in ordinary words: on CEDR (Russian sentences
labelled with emotions) they reach an F1 of about 0.1, this model about 0.45 (bench/bot.py).
Enrichment runs inside the inbound transaction, so the model must be cheap: hashed character
2-4-grams and one dot product, well under a millisecond per message, no encoder.

The shipped weights (``anger_model.npz`` beside this module, trained on CEDR train by
``python -m opora.ai.anger``; CEDR is Apache-2.0, Sboev et al. 2021) are plain arrays loaded
with ``allow_pickle=False``. Without the file, enrichment falls back to the rules alone.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from opora.kit.char_ngrams import tfidf, vocabulary

FORMAT = 1
SHIPPED = Path(__file__).with_name("anger_model.npz")
# The rules call a message angry from a score of 0.45; the model's own threshold maps onto it.
ANGRY_AT = 0.45


@dataclass(frozen=True, slots=True)
class AngerModel:
    coef: NDArray[np.float32]  # one weight per stored column
    intercept: float
    cols: NDArray[np.int64]
    idf: NDArray[np.float32]
    ngram_min: int
    ngram_max: int
    threshold: float  # probability from which a message is called angry (tuned for F1)

    def probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        chars = tfidf(texts, self.ngram_min, self.ngram_max, self.cols, self.idf)
        logits = np.asarray(chars @ self.coef, dtype=np.float64).ravel() + self.intercept
        result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits))
        return result

    def scores(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Probabilities mapped piecewise-linearly so that ``threshold`` lands on :data:`ANGRY_AT`."""
        p = self.probabilities(texts)
        t = self.threshold
        low = p / t * ANGRY_AT
        high = ANGRY_AT + (p - t) / (1.0 - t) * (1.0 - ANGRY_AT)
        result: NDArray[np.float64] = np.clip(np.where(p < t, low, high), 0.0, 1.0)
        return result

    def to_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "intercept": self.intercept,
            "ngram_min": self.ngram_min,
            "ngram_max": self.ngram_max,
            "threshold": self.threshold,
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            coef=self.coef,
            cols=self.cols,
            idf=self.idf,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> AngerModel:
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
                meta = json.loads(arrays["meta"].tobytes().decode())
                coef, cols, idf = arrays["coef"], arrays["cols"], arrays["idf"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not an anger model: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown anger model format {meta.get('format')!r}")
        if not (coef.shape == cols.shape == idf.shape) or not 0.0 < meta["threshold"] < 1.0:
            raise ValueError("inconsistent anger model arrays")
        return cls(
            coef=coef,
            intercept=float(meta["intercept"]),
            cols=cols,
            idf=idf,
            ngram_min=int(meta["ngram_min"]),
            ngram_max=int(meta["ngram_max"]),
            threshold=float(meta["threshold"]),
        )


def _fit(
    texts: Sequence[str],
    labels: Sequence[bool] | NDArray[np.bool_],
    *,
    c: float,
    ngram: tuple[int, int],
    min_df: int,
) -> tuple[LogisticRegression, NDArray[np.int64], NDArray[np.float32]]:
    cols, idf = vocabulary(texts, *ngram, min_df=min_df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(
            tfidf(texts, *ngram, cols, idf), np.asarray(labels, dtype=bool)
        )
    return fitted, cols, idf


def train(
    texts: Sequence[str],
    labels: Sequence[bool],
    *,
    c: float = 3.0,
    ngram: tuple[int, int] = (2, 4),
    min_df: int = 2,
    validation: float = 0.2,
    seed: int = 0,
) -> AngerModel:
    """Pick the threshold for the best F1 on a stratified validation part, then refit on all."""
    y = np.asarray(labels, dtype=bool)
    if len(texts) != len(y) or y.sum() < 5 or (~y).sum() < 5:
        raise ValueError("anger training needs matching texts and labels with at least 5 of each class")
    tr_x, va_x, tr_y, va_y = train_test_split(
        list(texts), y, test_size=validation, stratify=y, random_state=seed
    )
    fitted, cols, idf = _fit(tr_x, tr_y, c=c, ngram=ngram, min_df=min_df)
    p = fitted.predict_proba(tfidf(va_x, *ngram, cols, idf))[:, 1]
    candidates = np.round(np.arange(0.2, 0.9, 0.025), 3)
    f1 = [_f1(va_y, p >= t) for t in candidates]
    threshold = float(candidates[int(np.argmax(f1))])
    fitted, cols, idf = _fit(list(texts), y, c=c, ngram=ngram, min_df=min_df)
    return AngerModel(
        coef=np.asarray(fitted.coef_[0], dtype=np.float32),
        intercept=float(fitted.intercept_[0]),
        cols=cols,
        idf=idf,
        ngram_min=ngram[0],
        ngram_max=ngram[1],
        threshold=threshold,
    )


def _f1(gold: NDArray[np.bool_], pred: NDArray[np.bool_]) -> float:
    tp = float((gold & pred).sum())
    return 2 * tp / max(1.0, float(gold.sum() + pred.sum()))


@functools.cache
def shipped() -> AngerModel | None:
    """The model shipped with Opora, loaded once per process; None when the file is absent."""
    if not SHIPPED.exists():
        return None
    return AngerModel.from_bytes(SHIPPED.read_bytes())


def load_cedr(path: Path) -> tuple[list[str], list[bool]]:
    """CEDR csv rows (text, labels like "[1 4]"); label 4 is anger."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], ["4" in r["labels"].strip("[]").split() for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the shipped anger model on CEDR train.")
    parser.add_argument("train_csv", type=Path, help="cedr-main-train.csv")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    texts, labels = load_cedr(args.train_csv)
    model = train(texts, labels)
    args.out.write_bytes(model.to_bytes())
    print(f"wrote {args.out}: {len(model.cols)} columns, threshold {model.threshold:.3f}")


if __name__ == "__main__":
    main()
