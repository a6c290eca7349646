"""Validation only (issue 8): other out-of-scope scores beside ADR 0038's margin, judged by
bench/bot.py's `--only transfer` protocol (4 OOS folds, 3 folds -> 1 and resplits).

Stage 1 trains the ten fold models of `--only transfer` (train + the OOS folds of a subset) and
caches their raw logits on the 200 OOS phrases and CLINC150 val beside the embeddings
(`oosx-*.npz`); stage 2 turns the logits into each candidate score and runs bench/bot.py's
`transfer` on it. The test split is never read.

Usage: OPORA_BENCH_CACHE=... OPORA_BENCH_DATA=... .venv/bin/python bench/oos_scores.py [--train-only] [--synthetic N]
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp  # type: ignore[import-untyped]

from opora.bot import engine
from opora.bot.classifier import IntentModel
from opora.bot.embeddings import make_embedder
from opora.bot.models import OUT_OF_SCOPE

_spec = importlib.util.spec_from_file_location("bench_bot", Path(__file__).with_name("bot.py"))
assert _spec
assert _spec.loader
bb: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_bot"] = bb
_spec.loader.exec_module(bb)

USE_DIM = 512  # use+minilm rows: USE's 512 columns, then MiniLM's 384
KNN_K = 10
# Candidate H: "not ours" phrases made from the training data alone, the first half of one
# intent's phrase joined to the second half of another's (seeded); 0 = off.
SYNTHETIC = 0


def synthetic_negatives(texts: list[str], labels: list[str], n: int) -> list[str]:
    rng = np.random.default_rng(0)
    by_label: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_label.setdefault(label, []).append(text)
    names = sorted(by_label)
    out: list[str] = []
    while len(out) < n:
        a, b = rng.choice(len(names), 2, replace=False)
        first = by_label[names[a]][rng.integers(len(by_label[names[a]]))].split()
        second = by_label[names[b]][rng.integers(len(by_label[names[b]]))].split()
        phrase = " ".join(first[: (len(first) + 1) // 2] + second[len(second) // 2 :])
        if phrase not in out:
            out.append(phrase)
    return out


def logits(model: IntentModel, texts: list[str], emb: NDArray[np.float32]) -> NDArray[np.float64]:
    # classifier.IntentModel.probabilities before its softmax (these models store no neighbours).
    dim = emb.shape[1]
    out = np.asarray(emb, dtype=np.float64) @ model.coef[:, :dim].T.astype(np.float64)
    out += (
        np.asarray(model._chars(texts) @ model.coef[:, dim:].T, dtype=np.float64) * model.params.char_weight
    )
    return out + model.intercept


def model_logits(split, folds, subset) -> dict[str, NDArray[Any]]:  # type: ignore[no-untyped-def]
    tr_x, tr_y = split["train"]
    oos_x = [*split["oos_train"][0], *split["oos_val"][0]]
    key = hashlib.sha256(
        f"{bb.EMBEDDER.name}|{subset}|{[f.tolist() for f in folds]}|{SYNTHETIC}".encode()
    ).hexdigest()[:24]
    path = bb.CACHE / f"oosx-{key}.npz"
    if path.exists():
        return dict(np.load(path))
    idx = np.concatenate([folds[i] for i in subset])
    oos_emb = bb.embed(oos_x)
    neg_x, neg_emb = [oos_x[j] for j in idx], oos_emb[idx]
    if SYNTHETIC:
        fake = synthetic_negatives(tr_x, tr_y, SYNTHETIC)
        neg_x, neg_emb = [*neg_x, *fake], np.concatenate([neg_emb, bb.embed(fake)])
    model = engine.train_model(tr_x, tr_y, bb.embed(tr_x), neg_x, neg_emb, encoder=bb.EMBEDDER.name)
    got = {
        "oos": logits(model, oos_x, oos_emb),
        "val": logits(model, split["val"][0], bb.embed(split["val"][0])),
        "classes": np.asarray(model.classes),
    }
    np.savez(path, **got)  # type: ignore[arg-type]
    return got


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def neighbour_similarity(emb: NDArray[np.float32], pred: NDArray[np.int64], train_emb: NDArray[np.float32],
                         train_cls: NDArray[np.int64], part: slice) -> NDArray[np.float64]:  # fmt: skip
    """Mean cosine of the KNN_K training phrases of the predicted intent nearest to each row, in one
    encoder's part of the vector (each part is unit-length)."""
    a, b = emb[:, part], train_emb[:, part]
    out = np.zeros(len(emb))
    for c in np.unique(pred):
        rows = np.flatnonzero(pred == c)
        sims = a[rows] @ b[train_cls == c].T
        top = -np.sort(-sims, axis=1)[:, :KNN_K]
        out[rows] = top.mean(axis=1)
    return out


def main() -> None:
    global SYNTHETIC
    if "--synthetic" in sys.argv:
        SYNTHETIC = int(sys.argv[sys.argv.index("--synthetic") + 1])
    bb.EMBEDDER = make_embedder("use+minilm", threads=2)
    split = bb._clinc_data()
    folds = bb._oos_folds(len(split["oos_train"][0]), len(split["oos_val"][0]), bb.OOS_FOLDS)
    everything = tuple(range(bb.OOS_FOLDS))
    wanted = [s for size in (bb.OOS_FOLDS - 2, bb.OOS_FOLDS - 1) for s in bb._subsets(everything, size)]
    runs = {}
    for subset in wanted:
        start = time.process_time()
        runs[subset] = model_logits(split, folds, subset)
        print(f"  model with OOS folds {subset}: {time.process_time() - start:.0f} s CPU", flush=True)
    if "--train-only" in sys.argv:
        return
    analyse(split, folds, runs)


def analyse(split, folds, runs) -> None:  # type: ignore[no-untyped-def]
    oos_x = [*split["oos_train"][0], *split["oos_val"][0]]
    emb = {"oos": bb.embed(oos_x), "val": bb.embed(split["val"][0])}
    tr_x, tr_y = split["train"]
    train_emb = bb.embed(tr_x)
    gold = np.asarray(split["val"][1])

    def parts(run: dict[str, NDArray[Any]], which: str) -> dict[str, NDArray[Any]]:
        z = run[which]
        classes = list(run["classes"])
        col = classes.index(OUT_OF_SCOPE)
        ins = np.delete(np.arange(len(classes)), col)
        p = softmax(z)
        best = ins[z[:, ins].argmax(axis=1)]
        rows = np.arange(len(z))
        train_cls = np.asarray([classes.index(y) for y in tr_y])
        return {
            "pred": np.asarray(classes)[best],
            "margin": np.maximum(0.0, p[rows, best] - p[:, col]),
            "logit_margin": z[rows, best] - z[:, col],
            "energy_vs_oos": logsumexp(z[:, ins], axis=1) - z[:, col],
            "energy": logsumexp(z[:, ins], axis=1),
            "max_logit": z[rows, best],
            "s_minilm": neighbour_similarity(emb[which], best, train_emb, train_cls, slice(USE_DIM, None)),
            "s_use": neighbour_similarity(emb[which], best, train_emb, train_cls, slice(0, USE_DIM)),
        }

    scored = {s: {w: parts(run, w) for w in ("oos", "val")} for s, run in runs.items()}
    if not SYNTHETIC:
        # The same models as `--only transfer` (its cache, when present, holds their margins).
        for subset, d in scored.items():
            oos, _, conf = bb._fold_model_scores(split, folds, subset)
            print(f"  check {subset}: max |margin - transfer cache| oos {np.abs(oos - d['oos']['margin']).max():.2e}"
                  f" val {np.abs(conf - d['val']['margin']).max():.2e}")  # fmt: skip
    candidates: dict[str, Callable[[dict[str, NDArray[Any]]], NDArray[Any]]] = (
        {}
        if SYNTHETIC
        else {
            "margin (ADR 0038)": lambda d: d["margin"],
            "A logit margin": lambda d: d["logit_margin"],
            "B energy vs OOS": lambda d: d["energy_vs_oos"],
            "C energy": lambda d: d["energy"],
            "D max logit": lambda d: d["max_logit"],
            "E margin x s(MiniLM)": lambda d: d["margin"] * d["s_minilm"],
            "F margin + s(MiniLM) - 1": lambda d: d["margin"] + d["s_minilm"] - 1.0,
            "G margin x s(USE)": lambda d: d["margin"] * d["s_use"],
        }
    )
    if SYNTHETIC:
        candidates[f"H margin, {SYNTHETIC} synthetic negatives"] = lambda d: d["margin"]
    for name, score in candidates.items():

        def fold_scores(_split, _folds, subset, score=score):  # type: ignore[no-untyped-def]
            d = scored[subset]
            return score(d["oos"]), d["val"]["pred"] == gold, score(d["val"])

        bb._fold_model_scores = fold_scores
        print(f"\n=== {name}", flush=True)
        bb.transfer(False)


if __name__ == "__main__":
    main()
