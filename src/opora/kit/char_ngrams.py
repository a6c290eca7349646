"""Character n-gram TF-IDF over hashed columns: the text features of the intent and anger models.

Hashing is stateless (the same text always lands on the same columns of a 2^20-wide space), so a
trained model only keeps the columns it saw in training, sorted, with their idf: plain arrays that
are stored without pickle. Rows are log-count TF-IDF, L2-normalised.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped]

N_FEATURES = 2**20


@functools.lru_cache(maxsize=8)
def _hasher(ngram_min: int, ngram_max: int) -> HashingVectorizer:
    # Cached: building a vectorizer per message cost more than hashing the message.
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(ngram_min, ngram_max),
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        lowercase=True,
    )


def hashed_counts(texts: Sequence[str], ngram_min: int, ngram_max: int) -> sparse.csr_matrix:
    """Raw n-gram counts over all 2^20 hashed columns, one row per text."""
    if ngram_min < 1 or ngram_max < ngram_min:
        raise ValueError(f"bad n-gram range {ngram_min}..{ngram_max}")
    return _hasher(ngram_min, ngram_max).transform(list(texts))


def vocabulary(
    texts: Sequence[str], ngram_min: int, ngram_max: int, *, min_df: int = 1
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The sorted columns seen in at least ``min_df`` texts and their smoothed idf."""
    df = np.diff(hashed_counts(texts, ngram_min, ngram_max).tocsc().indptr)
    cols = np.flatnonzero(df >= max(1, min_df)).astype(np.int64)
    idf = (np.log((1 + len(texts)) / (1 + df[cols])) + 1.0).astype(np.float32)
    return cols, idf


def tfidf(
    texts: Sequence[str], ngram_min: int, ngram_max: int, cols: NDArray[np.int64], idf: NDArray[np.float32]
) -> sparse.csr_matrix:
    """Rows over the stored columns (``len(cols)`` wide); n-grams never seen in training drop out.

    ``cols`` is sorted, so each hashed column finds its position by binary search: no conversion
    of a 2^20-column matrix per message (that alone cost milliseconds).
    """
    counts = hashed_counts(texts, ngram_min, ngram_max)
    n_rows = counts.shape[0]
    if len(cols) == 0:
        return sparse.csr_matrix((n_rows, 0), dtype=np.float32)
    pos = np.searchsorted(cols, counts.indices)
    known = pos < len(cols)
    known[known] = cols[pos[known]] == counts.indices[known]
    values = (np.log1p(counts.data) * idf[np.minimum(pos, len(cols) - 1)]).astype(np.float32)
    values[~known] = 0.0
    rows = np.repeat(np.arange(n_rows), np.diff(counts.indptr))
    norms = np.sqrt(np.bincount(rows, weights=values.astype(np.float64) ** 2, minlength=n_rows))
    norms[norms == 0] = 1.0
    values /= norms[rows].astype(np.float32)
    keep = known & (values != 0)
    return sparse.csr_matrix(
        (values[keep], (rows[keep], pos[keep])), shape=(n_rows, len(cols)), dtype=np.float32
    )
