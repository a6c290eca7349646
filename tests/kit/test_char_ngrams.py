"""Hashed character n-gram TF-IDF: the fast column lookup equals the plain sparse computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse  # type: ignore[import-untyped]

from opora.kit.char_ngrams import hashed_counts, tfidf, vocabulary

TRAIN = ["где мой заказ", "верните деньги", "where is my order", "refund please", "заказ 4581-22"]


def _reference(texts: list[str], cols: np.ndarray, idf: np.ndarray) -> sparse.csr_matrix:
    # The straightforward way: select the stored columns of the full 2^20-wide matrix.
    counts = hashed_counts(texts, 2, 4).tocsc()[:, cols].tocsr().astype(np.float64)
    counts.data = np.log1p(counts.data)
    weighted = sparse.csr_matrix(counts.multiply(idf))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ weighted)


def test_tfidf_matches_the_plain_computation_and_drops_unseen_ngrams() -> None:
    cols, idf = vocabulary(TRAIN, 2, 4)
    assert np.all(np.diff(cols) > 0) and len(cols) == len(idf)
    queries = [*TRAIN, "совсем другое сообщение", "", "xyz"]
    fast = tfidf(queries, 2, 4, cols, idf)
    assert fast.shape == (len(queries), len(cols))
    assert np.allclose(fast.toarray(), _reference(queries, cols, idf).toarray(), atol=1e-6)
    norms = np.linalg.norm(fast.toarray(), axis=1)
    assert np.allclose(norms[: len(TRAIN)], 1.0, atol=1e-5)
    assert norms[len(TRAIN) + 1] == 0.0  # the empty text has no n-grams at all


def test_min_df_and_bad_input() -> None:
    all_cols, _ = vocabulary(TRAIN, 2, 4)
    common, _ = vocabulary(TRAIN, 2, 4, min_df=2)
    assert 0 < len(common) < len(all_cols) and set(common) <= set(all_cols)
    empty = tfidf(["abc"], 2, 4, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    assert empty.shape == (1, 0)
    with pytest.raises(ValueError, match="n-gram range"):
        hashed_counts(["abc"], 3, 2)
