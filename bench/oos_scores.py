"""Validation only (issue 8): other out-of-scope scores beside ADR 0038's margin, judged by
bench/bot.py's `--only transfer` protocol (4 OOS folds, 3 folds -> 1 and resplits).

Stage 1 trains the ten fold models of `--only transfer` (train + the OOS folds of a subset) and
caches their raw logits on the 200 OOS phrases and CLINC150 val beside the embeddings
(`oosx-*.npz`); stage 2 turns the logits into each candidate score and runs bench/bot.py's
`transfer` on it. The test split is never read.

Second round (this file's `mahalanobis` and `--negatives bitext` parts): Mahalanobis distance to
the intents' Gaussians (one shared Ledoit-Wolf covariance, fitted on the training phrases), alone
and subtracted from the margin with a weight; and outlier exposure, Bitext customer-support
phrases of intents CLINC150 does not have as extra "not ours" training phrases. A weight is
chosen on val half A with the choose side of each scenario only, and judged on val half B
(`judge`).

Third round (`--mixup N`, `--round 3`): feature-space pseudo-outliers (Zhan et al. 2021), N
extra "not ours" rows made as convex combinations of two training phrases of different intents,
each part of the row (USE, MiniLM, character n-grams) mixed and made unit-length again; and
per-intent thresholds (DOC, Shu et al. 2017) from each intent's own margins on val half A.

Usage: OPORA_BENCH_CACHE=... OPORA_BENCH_DATA=... .venv/bin/python bench/oos_scores.py [--train-only]
       [--synthetic N | --negatives bitext | --mixup N] [--round 2 | --round 3]
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from scipy.special import logsumexp  # type: ignore[import-untyped]
from sklearn.covariance import LedoitWolf  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from opora.bot import engine
from opora.bot.classifier import IntentModel, Params
from opora.bot.embeddings import make_embedder
from opora.bot.models import OUT_OF_SCOPE
from opora.kit.char_ngrams import vocabulary

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
# Outlier exposure: "bitext" adds BITEXT_N Bitext phrases to every fold model's "not ours"; "" = off.
NEGATIVES = ""
BITEXT_N = 1000
# Bitext intents left out because a CLINC150 intent covers them (decided from the intent names
# before any score was seen): orders and their delivery (order, order_status), invoices (bill_balance,
# bill_due), payments (pay_bill, card_declined), account name and password (change_user_name,
# user_name, pin_change, account_blocked).
BITEXT_OVERLAP = frozenset(
    {
        "track_order", "place_order", "change_order", "cancel_order", "delivery_period",
        "delivery_options", "check_invoice", "get_invoice", "payment_issue",
        "check_payment_methods", "edit_account", "recover_password",
    }
)  # fmt: skip
# The weights `judge` chooses from for "score - w x standardised Mahalanobis distance".
WEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# Round 3. Pseudo-outliers: MIXUP mixed rows per fold model (0 = off); the counts `--round 3` reads,
# fixed before any of their results was seen; the mixing share a of the first phrase is uniform in
# MIX_SHARE.
MIXUP = 0
MIXUP_COUNTS = (500, 2000, 5000)
MIX_SHARE = (0.3, 0.7)
# Per-intent thresholds: an intent's spread of margins is floored at this, so that an intent whose
# ~10 half-A phrases all sit at 0.99 does not turn a 0.95 into a far outlier (fixed beforehand).
SPREAD_FLOOR = 0.02
# Blend weights for "margin - w x (an intent's mean margin, or mean - sd, minus the intents' average)":
# the intent's threshold is the global one moved by w times how far its own margins sit from the rest.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
CP80 = bb.PROTOCOLS["Clopper-Pearson 80%"]


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


def bitext_negatives(train_emb: NDArray[np.float32]) -> tuple[list[str], NDArray[np.float32], str]:
    """BITEXT_N Bitext phrases (seeded, stratified over the intents kept) that no CLINC150 training
    phrase is close to, their vectors, and what was dropped. A phrase is dropped when its nearest
    CLINC150 training phrase is closer than 90% of training phrases are to their own nearest
    other training phrase: such a phrase may be ours in other words."""
    path = bb.DATA / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    rows = list(csv.DictReader(path.open()))
    texts = [r["instruction"] for r in rows]
    intents = np.asarray([r["intent"] for r in rows])
    emb = bb.embed(texts)
    parts = 2.0  # use+minilm: two unit-length parts, so a cosine is the dot product / 2
    nearest = np.zeros(len(texts))
    for i in range(0, len(texts), 1000):
        nearest[i : i + 1000] = (emb[i : i + 1000] @ train_emb.T).max(axis=1) / parts
    own = np.zeros(len(train_emb))
    for i in range(0, len(train_emb), 1000):
        sims = train_emb[i : i + 1000] @ train_emb.T / parts
        sims[np.arange(sims.shape[0]), np.arange(i, i + sims.shape[0])] = -1.0
        own[i : i + 1000] = sims.max(axis=1)
    close = float(np.percentile(own, 10))
    report = [f"  Bitext: {len(texts)} phrases, 27 intents; too close to CLINC150 train (cos >= {close:.3f}, "
              f"the 10th percentile of train phrases' nearest other train phrase):"]  # fmt: skip
    for name in sorted(set(intents)):
        rows_of = intents == name
        flag = "left out (overlap)" if name in BITEXT_OVERLAP else "kept"
        report.append(f"    {name:26} {np.mean(nearest[rows_of] >= close):6.1%} of {rows_of.sum():3}  {flag}")
    keep = np.flatnonzero(~np.isin(intents, list(BITEXT_OVERLAP)) & (nearest < close))
    rng = np.random.default_rng(0)
    names = sorted(set(intents[keep]))
    per = {n: rng.permutation(keep[intents[keep] == n]) for n in names}
    chosen: list[int] = []
    round_ = 0
    while len(chosen) < BITEXT_N and any(round_ < len(v) for v in per.values()):
        chosen += [int(v[round_]) for v in per.values() if round_ < len(v)][: BITEXT_N - len(chosen)]
        round_ += 1
    idx = np.sort(np.asarray(chosen))
    report.append(f"  kept {keep.size} phrases of {len(names)} intents, used {idx.size}")
    return [texts[i] for i in idx], emb[idx], "\n".join(report)


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
    mix = f"|mix{MIXUP}:{MIX_SHARE}" if MIXUP else ""
    key = hashlib.sha256(
        f"{bb.EMBEDDER.name}|{subset}|{[f.tolist() for f in folds]}|{SYNTHETIC}{NEGATIVES and f'|{NEGATIVES}{BITEXT_N}'}{mix}".encode()
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
    if NEGATIVES == "bitext":
        more_x, more_emb, _ = bitext_negatives(bb.embed(tr_x))
        neg_x, neg_emb = [*neg_x, *more_x], np.concatenate([neg_emb, more_emb])
    if MIXUP:
        model = train_with_mixed(tr_x, tr_y, bb.embed(tr_x), neg_x, neg_emb, MIXUP)
    else:
        model = engine.train_model(tr_x, tr_y, bb.embed(tr_x), neg_x, neg_emb, encoder=bb.EMBEDDER.name)
    got = {
        "oos": logits(model, oos_x, oos_emb),
        "val": logits(model, split["val"][0], bb.embed(split["val"][0])),
        "classes": np.asarray(model.classes),
    }
    np.savez(path, **got)  # type: ignore[arg-type]
    return got


def mixed_pairs(
    labels: list[str], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """n seeded pairs of training rows of different intents, and the share of the first in each."""
    rng = np.random.default_rng(0)
    y = np.asarray(labels)
    first = rng.integers(len(y), size=n)
    second = rng.integers(len(y), size=n)
    # Redraw the partner until it belongs to another intent (about 1 in 150 draws needs it).
    same = y[first] == y[second]
    while same.any():
        second[same] = rng.integers(len(y), size=int(same.sum()))
        same = y[first] == y[second]
    return first, second, rng.uniform(*MIX_SHARE, size=n)


def unit_rows(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: NDArray[np.float64] = x / np.maximum(norms, 1e-12)
    return out


def train_with_mixed(tr_x: list[str], tr_y: list[str], tr_emb: NDArray[np.float32], neg_x: list[str],
                     neg_emb: NDArray[np.float32], n: int) -> IntentModel:  # fmt: skip
    """engine.train_model's model (the intents, the "not ours" phrases as a class, classifier.train's
    fit) with n more "not ours" rows that have no text: each mixes two training phrases of different
    intents in every part of the feature row. Each part is made unit-length again, as the encoders
    and the n-gram tf-idf make every real row, so a mixed row differs from real ones by direction
    only, not by a shorter length the regression could key on."""
    params = Params()
    texts = [*tr_x, *neg_x]
    labels = [*tr_y, *([OUT_OF_SCOPE] * len(neg_x))]
    emb = np.concatenate([tr_emb, neg_emb])
    classes = sorted(set(labels))
    cols, idf = vocabulary(texts, params.ngram_min, params.ngram_max)
    model = IntentModel(classes=classes, coef=np.zeros((len(classes), emb.shape[1] + len(cols)), dtype=np.float32),
                        intercept=np.zeros(len(classes), dtype=np.float32), cols=cols, idf=idf, params=params,
                        encoder=bb.EMBEDDER.name)  # fmt: skip
    first, second, share = mixed_pairs(tr_y, n)
    a = share[:, None]
    dense = np.asarray(tr_emb, dtype=np.float64)
    mixed = np.hstack([unit_rows(a * dense[first, part] + (1 - a) * dense[second, part])
                       for part in (slice(0, USE_DIM), slice(USE_DIM, None))])  # fmt: skip
    # The n-gram part stays sparse: tens of thousands of columns.
    chars = model._chars(tr_x).astype(np.float64)
    mixed_chars = sparse.diags(share) @ chars[first] + sparse.diags(1 - share) @ chars[second]
    norms = np.sqrt(np.asarray(mixed_chars.multiply(mixed_chars).sum(axis=1)).ravel())
    mixed_chars = sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ mixed_chars
    x = sparse.vstack([
        model.features(texts, emb),
        sparse.hstack([sparse.csr_matrix(mixed.astype(np.float32)),
                       sparse.csr_matrix(mixed_chars.astype(np.float32)) * params.char_weight]),
    ]).tocsr()  # fmt: skip
    y = np.asarray([classes.index(label) for label in [*labels, *([OUT_OF_SCOPE] * n)]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # as classifier.train
        fitted = LogisticRegression(C=params.c, max_iter=params.max_iter).fit(x, y)
    model.coef = np.asarray(fitted.coef_, dtype=np.float32)
    model.intercept = np.asarray(fitted.intercept_, dtype=np.float32)
    return model


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
    global SYNTHETIC, NEGATIVES, MIXUP
    if "--mixup" in sys.argv:
        MIXUP = int(sys.argv[sys.argv.index("--mixup") + 1])
    if "--synthetic" in sys.argv:
        SYNTHETIC = int(sys.argv[sys.argv.index("--synthetic") + 1])
    if "--negatives" in sys.argv:
        NEGATIVES = sys.argv[sys.argv.index("--negatives") + 1]
    bb.EMBEDDER = make_embedder("use+minilm", threads=2)
    split = bb._clinc_data()
    folds = bb._oos_folds(len(split["oos_train"][0]), len(split["oos_val"][0]), bb.OOS_FOLDS)
    if NEGATIVES == "bitext":
        print(bitext_negatives(bb.embed(split["train"][0]))[2], flush=True)
    runs = train_all(split, folds)
    if "--train-only" in sys.argv:
        return
    if "--round" in sys.argv and sys.argv[sys.argv.index("--round") + 1] == "3":
        mixed = {}
        for MIXUP in MIXUP_COUNTS:
            mixed[MIXUP] = train_all(split, folds)
        MIXUP = 0
        round_three(split, folds, runs, mixed)
        return
    if "--round" in sys.argv:
        extra = runs if NEGATIVES else None
        if NEGATIVES:
            NEGATIVES = ""
            runs = train_all(split, folds)
        round_two(split, folds, runs, extra)
        return
    analyse(split, folds, runs)


def train_all(split, folds) -> dict[tuple[int, ...], dict[str, NDArray[Any]]]:  # type: ignore[no-untyped-def]
    everything = tuple(range(bb.OOS_FOLDS))
    wanted = [s for size in (bb.OOS_FOLDS - 2, bb.OOS_FOLDS - 1) for s in bb._subsets(everything, size)]
    runs = {}
    for subset in wanted:
        start = time.process_time()
        runs[subset] = model_logits(split, folds, subset)
        more = f" + {MIXUP} mixed" if MIXUP else ""
        print(f"  model with OOS folds {subset}{NEGATIVES and ' + ' + NEGATIVES}{more}: "
              f"{time.process_time() - start:.0f} s CPU", flush=True)  # fmt: skip
    return runs


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
        best = ins[z[:, ins].argmax(axis=1)]
        rows = np.arange(len(z))
        train_cls = np.asarray([classes.index(y) for y in tr_y])
        return {
            **base_parts(run, which),
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


class Gaussians:
    """The intents as Gaussians with one shared covariance (Ledoit-Wolf shrinkage: 15,000 phrases
    for up to 896 dimensions), and a background Gaussian of all training phrases for the relative
    distance (Ren et al. 2021), fitted on one part of the vectors."""

    def __init__(self, emb: NDArray[np.float32], labels: list[str], part: slice) -> None:
        x = np.asarray(emb[:, part], dtype=np.float64)
        names = sorted(set(labels))
        y = np.asarray([names.index(label) for label in labels])
        self.part = part
        self.means = np.stack([x[y == c].mean(axis=0) for c in range(len(names))])
        self.precision = LedoitWolf(assume_centered=True).fit(x - self.means[y]).precision_
        self.centre = x.mean(axis=0)
        self.background = LedoitWolf().fit(x).precision_
        self.mean_terms = np.einsum("cd,de,ce->c", self.means, self.precision, self.means)
        root = np.sqrt(self.distances(emb)[0])
        self.scale = (float(root.mean()), float(root.std()))  # of the training phrases, for combinations

    def distances(self, emb: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Squared distance to the nearest intent, and that minus the background's."""
        z = np.asarray(emb[:, self.part], dtype=np.float64)
        zp = z @ self.precision
        d = np.einsum("nd,nd->n", zp, z)[:, None] - 2 * zp @ self.means.T + self.mean_terms[None, :]
        nearest = np.maximum(d.min(axis=1), 0.0)
        off = z - self.centre
        return nearest, nearest - np.einsum("nd,de,ne->n", off, self.background, off)

    def standardised(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (np.sqrt(self.distances(emb)[0]) - self.scale[0]) / self.scale[1]
        return out


Score = Callable[[dict[str, NDArray[Any]], float], NDArray[Any]]


def judge(scored, folds, gold, score: Score, weights: tuple[float, ...], choose, check):  # type: ignore[no-untyped-def]
    """The transfer analysis at the Clopper-Pearson 80% protocol for one score: "3 -> 1" and the
    2,000 resplits of bench/bot.py's `transfer`, with the score's weight (if it has more than one
    to choose from) chosen per scenario on the choose side only (the seen folds, or the 100
    phrases to choose on) by val in-scope accuracy on the rows of ``choose``, and val in-scope
    accuracy reported on the rows of ``check``."""
    aim, confidence, method = CP80
    everything = tuple(range(bb.OOS_FOLDS))
    cache: dict[tuple[tuple[int, ...], str, float], NDArray[Any]] = {}

    def s(subset: tuple[int, ...], which: str, w: float) -> NDArray[Any]:
        if (subset, which, w) not in cache:
            cache[subset, which, w] = score(scored[subset][which], w)
        return cache[subset, which, w]

    def accuracy(subset: tuple[int, ...], w: float, at: float, rows: NDArray[np.bool_]) -> float:
        ok = (scored[subset]["val"]["pred"] == gold) & (s(subset, "val", w) >= at)
        return float(ok[rows].mean())

    caught, acc, picked = 0, [], []
    for b in everything:
        seen = tuple(i for i in everything if i != b)

        def held(w: float, seen: tuple[int, ...] = seen) -> NDArray[Any]:
            return np.concatenate([s(tuple(j for j in seen if j != i), "oos", w)[folds[i]] for i in seen])

        ats = {w: bb.oos_threshold(held(w), aim, confidence, method=method) for w in weights}
        w = max(weights, key=lambda w: accuracy(seen, w, ats[w], choose)) if len(weights) > 1 else weights[0]
        picked.append(w)
        caught += int((s(seen, "oos", w)[folds[b]] < ats[w]).sum())
        acc.append(accuracy(seen, w, ats[w], check))
    deployed = [tuple(i for i in everything if i != b) for b in everything]
    pools = {}
    for w in weights:
        pools[w] = np.zeros(sum(f.size for f in folds))
        for b, seen in zip(everything, deployed, strict=True):
            pools[w][folds[b]] = s(seen, "oos", w)[folds[b]]

    def sorted_right(w: float, rows: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
        # Val in-scope accuracy at a threshold = right answers at or above it / rows.
        return [np.sort(s(d, "val", w)[rows & (scored[d]["val"]["pred"] == gold)]) for d in deployed]

    right = {(w, k): sorted_right(w, rows) for w in weights for k, rows in (("c", choose), ("k", check))}

    def resplit_accuracy(w: float, k: str, at: float, n: int) -> float:
        return float(np.mean([(r.size - np.searchsorted(r, at, side="left")) / n for r in right[w, k]]))

    rng = np.random.default_rng(1)
    recall, racc, rpicked = [], [], []
    for perm in [rng.permutation(pools[weights[0]].size) for _ in range(2000)]:
        ats = {w: bb.oos_threshold(pools[w][perm[:100]], aim, confidence, method=method) for w in weights}
        w = (max(weights, key=lambda w: resplit_accuracy(w, "c", ats[w], int(choose.sum())))
             if len(weights) > 1 else weights[0])  # fmt: skip
        rpicked.append(w)
        recall.append(float(np.mean(pools[w][perm[100:]] < ats[w])))
        racc.append(resplit_accuracy(w, "k", ats[w], int(check.sum())))
    return {
        "caught": caught,
        "val_31": float(np.mean(acc)),
        "fresh_mean": float(np.mean(recall)),
        "p85": float(np.mean(np.asarray(recall) >= bb.OOS_TARGET)),
        "val_rs": float(np.mean(racc)),
        "weights_31": picked,
        "weights_rs": {w: rpicked.count(w) for w in sorted(set(rpicked))},
    }


def base_parts(run: dict[str, NDArray[Any]], which: str) -> dict[str, NDArray[Any]]:
    z = run[which]
    classes = list(run["classes"])
    col = classes.index(OUT_OF_SCOPE)
    ins = np.delete(np.arange(len(classes)), col)
    p = softmax(z)
    best = ins[z[:, ins].argmax(axis=1)]
    rows = np.arange(len(z))
    return {
        "pred": np.asarray(classes)[best],
        "margin": np.maximum(0.0, p[rows, best] - p[:, col]),
        "logit_margin": z[rows, best] - z[:, col],
    }


def round_two(split, folds, runs, extra) -> None:  # type: ignore[no-untyped-def]
    """Mahalanobis distances and outlier exposure (``extra``: the fold models trained with Bitext
    phrases as well, or None), judged by `judge` against the margin."""
    oos_x = [*split["oos_train"][0], *split["oos_val"][0]]
    emb = {"oos": bb.embed(oos_x), "val": bb.embed(split["val"][0])}
    tr_x, tr_y = split["train"]
    train_emb = bb.embed(tr_x)
    gold = np.asarray(split["val"][1])
    start = time.process_time()
    fits = {name: Gaussians(train_emb, tr_y, part) for name, part in
            (("all", slice(None)), ("use", slice(0, USE_DIM)), ("minilm", slice(USE_DIM, None)))}  # fmt: skip
    print(f"  Gaussians fitted: {time.process_time() - start:.0f} s CPU", flush=True)
    shared: dict[str, dict[str, NDArray[Any]]] = {}
    for which in ("oos", "val"):
        got: dict[str, NDArray[Any]] = {}
        for name, g in fits.items():
            nearest, relative = g.distances(emb[which])
            got[f"maha_{name}"], got[f"rmaha_{name}"] = -nearest, -relative
            got[f"z_{name}"] = g.standardised(emb[which])
        shared[which] = got
    scored = {s: {w: {**base_parts(run, w), **shared[w]} for w in ("oos", "val")} for s, run in runs.items()}
    if extra is not None:
        for s, run in extra.items():
            for w in ("oos", "val"):
                oe = base_parts(run, w)
                scored[s][w].update({f"oe_{k}": v for k, v in oe.items()})
    every, half_a = val_halves(len(gold))
    one = (0.0,)
    plain: dict[str, Score] = {
        "M1 -Mahalanobis, use+minilm": lambda d, w: d["maha_all"],
        "M2 -Mahalanobis, USE part": lambda d, w: d["maha_use"],
        "M3 -Mahalanobis, MiniLM part": lambda d, w: d["maha_minilm"],
        "M4 -relative Mahalanobis, use+minilm": lambda d, w: d["rmaha_all"],
    }
    weighted: dict[str, Score] = {
        "K1 margin - w z(use+minilm)": lambda d, w: d["margin"] - w * d["z_all"],
        "K2 margin - w z(MiniLM)": lambda d, w: d["margin"] - w * d["z_minilm"],
        "K3 logit margin - w z(use+minilm)": lambda d, w: d["logit_margin"] - w * 20 * d["z_all"],
    }
    if extra is not None:
        plain["O1 margin, Bitext negatives"] = lambda d, w: d["oe_margin"]
        weighted["O2 margin(Bitext) - w z(use+minilm)"] = lambda d, w: d["oe_margin"] - w * d["z_all"]
    margin: Score = lambda d, w: d["margin"]  # noqa: E731
    refs = {"all val": judge(scored, folds, gold, margin, one, every, every),
            "val half B": judge(scored, folds, gold, margin, one, half_a, ~half_a)}  # fmt: skip
    print_references(refs)
    for group, weights, choose, check, ref in ((plain, one, every, every, refs["all val"]),
                                               (weighted, WEIGHTS, half_a, ~half_a, refs["val half B"])):  # fmt: skip
        for name, score in group.items():
            # The fold models predict the intent in the same way for every score, and the fresh
            # phrases a score catches are counted in "3 -> 1".
            report_row(name, judge(scored, folds, gold, score, weights, choose, check), ref, weights, check)


def val_halves(n: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """All val rows, and half A (seeded): what chooses a weight; half B judges it."""
    half_a = np.zeros(n, dtype=bool)
    half_a[np.random.default_rng(2).permutation(n)[: n // 2]] = True
    return np.ones(n, dtype=bool), half_a


def intent_spread(d: dict[str, NDArray[Any]], gold: NDArray[Any], rows: NDArray[np.bool_]) -> dict[str, Any]:
    """Per intent, the mean and the spread (floored at SPREAD_FLOOR) of the margins of the val
    phrases in ``rows`` that the model gets right; an intent with fewer than two such phrases takes
    the figures of all of them."""
    right = rows & (d["pred"] == gold)
    pooled = (float(d["margin"][right].mean()), max(float(d["margin"][right].std()), SPREAD_FLOOR))
    out = {}
    for c in np.unique(gold):
        m = d["margin"][right & (gold == c)]
        out[c] = (float(m.mean()), max(float(m.std()), SPREAD_FLOOR)) if m.size >= 2 else pooled
    return out


def round_three(split, folds, runs, mixed) -> None:  # type: ignore[no-untyped-def]
    """Pseudo-outliers (``mixed``: count -> the fold models retrained with that many mixed rows)
    and per-intent thresholds, judged by `judge` against the margin."""
    gold = np.asarray(split["val"][1])
    every, half_a = val_halves(len(gold))
    scored = {s: {w: base_parts(run, w) for w in ("oos", "val")} for s, run in runs.items()}
    for s in scored:
        # Each fold model's own intents' figures, from its margins on half A only.
        spread = intent_spread(scored[s]["val"], gold, half_a)
        mean_mu = float(np.mean([mu for mu, _ in spread.values()]))
        mean_low = float(np.mean([mu - sd for mu, sd in spread.values()]))
        for w in ("oos", "val"):
            d = scored[s][w]
            d["mu"] = np.asarray([spread[c][0] for c in d["pred"]])
            d["sd"] = np.asarray([spread[c][1] for c in d["pred"]])
            d["mu_shift"] = d["mu"] - mean_mu
            d["low_shift"] = d["mu"] - d["sd"] - mean_low
        for n, runs_n in mixed.items():
            for w in ("oos", "val"):
                scored[s][w].update({f"mix{n}_{k}": v for k, v in base_parts(runs_n[s], w).items()})
    deployed = [tuple(i for i in range(bb.OOS_FOLDS) if i != b) for b in range(bb.OOS_FOLDS)]
    for label, key in [("margin (ADR 0038)", "pred"), *[(f"{n} mixed rows", f"mix{n}_pred") for n in mixed]]:
        acc = np.mean([np.mean(scored[s]["val"][key] == gold) for s in deployed])
        print(f"  {label:24} val accuracy without abstention (3-fold models): {acc:.2%}")
    one = (0.0,)
    plain: dict[str, Score] = {}
    for n in mixed:
        plain[f"X{n} margin, {n} mixed rows"] = lambda d, w, n=n: d[f"mix{n}_margin"]
    # The threshold on (margin - mu) / sd is a global k: intent c answers at margin >= mu_c + k sd_c.
    per_intent: dict[str, tuple[Score, tuple[float, ...]]] = {
        "P1 (margin - mu_c) / sd_c": (lambda d, w: (d["margin"] - d["mu"]) / d["sd"], one),
        "P2 margin - w (mu_c - mean mu)": (lambda d, w: d["margin"] - w * d["mu_shift"], BLEND_WEIGHTS),
        "P3 margin - w (mu_c - sd_c - mean)": (lambda d, w: d["margin"] - w * d["low_shift"], BLEND_WEIGHTS),
    }
    margin: Score = lambda d, w: d["margin"]  # noqa: E731
    refs = {"all val": judge(scored, folds, gold, margin, one, every, every),
            "val half B": judge(scored, folds, gold, margin, one, half_a, ~half_a)}  # fmt: skip
    print_references(refs)
    for name, score in plain.items():
        report_row(name, judge(scored, folds, gold, score, one, every, every), refs["all val"], one, every)
    for name, (score, weights) in per_intent.items():
        r = judge(scored, folds, gold, score, weights, half_a, ~half_a)
        report_row(name, r, refs["val half B"], weights, ~half_a)


def print_references(refs: dict[str, dict[str, Any]]) -> None:
    print(
        "score                                   | on         | fresh caught | 3->1 val | resplits fresh mean  P(>=85%)  val | vs margin 3->1 / resplits | weights chosen"
    )
    for label, ref in refs.items():
        print(f"{'margin (ADR 0038)':40}| {label:10} | {ref['caught']:5}/200    | {ref['val_31']:7.2%} |"
              f" {ref['fresh_mean']:10.1%} {ref['p85']:9.1%} {ref['val_rs']:7.2%} |")  # fmt: skip


def report_row(name: str, r: dict[str, Any], ref: dict[str, Any], weights: tuple[float, ...],
               check: NDArray[np.bool_]) -> None:  # fmt: skip
    """One line of the table, with the adoption rule applied against ``ref`` (the margin judged
    on the same rows)."""
    d31, drs = 100 * (r["val_31"] - ref["val_31"]), 100 * (r["val_rs"] - ref["val_rs"])
    passed = d31 >= 0.3 and drs >= 0.3 and r["caught"] >= ref["caught"]
    on = "all val" if check.all() else "val half B"
    print(f"{name:40}| {on:10} | {r['caught']:5}/200    | {r['val_31']:7.2%} | {r['fresh_mean']:10.1%}"
          f" {r['p85']:9.1%} {r['val_rs']:7.2%} | {d31:+.2f} / {drs:+.2f} {'PASS' if passed else 'fail'}"
          f" | {r['weights_31'] if len(weights) > 1 else ''} {r['weights_rs'] if len(weights) > 1 else ''}",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
