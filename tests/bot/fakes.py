"""A deterministic stand-in for the sentence encoder: hashed words, so tests load no model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

DIM = 512


class WordHashEmbedder:
    name = "test-hash"

    def __init__(self, language: str | None = None) -> None:
        # Tests patch ``bot_embedder(language)`` with the class itself; every language gets one.
        self.language = language

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out
