"""Intent model, abstention and enrichment: quality on public sets, speed and memory.

Data from ../shared/data (never copied into the repo); sets that are missing are skipped.
Tuning uses train/validation only; test splits are only reported.

  CLINC150   train + oos_train + oos_val -> model (opora.bot.engine.train_model: the out-of-scope
             phrases become a class of their own). The threshold comes from 200 held-out OOS
             phrases (oos_val scored by a model trained with oos_train and the other way round):
             the lowest one at which the 80% Clopper-Pearson lower bound of their recall reaches
             85% (ADR 0046; before it, an observed 85%).
             Test in-scope accuracy (an abstention counts as wrong) and OOS recall; val in-scope
             accuracy at the same threshold.
  transfer   (not in the default list; validation only) how a threshold chosen on some held-out
             OOS phrases keeps its recall on others, for the protocols of PROTOCOLS (ADR 0046).
  BANKING77  train -> test accuracy (no abstention).
  Bitext     stratified split 80/20 per intent by a hash of the text; accuracy and macro-F1.
  ru_support 5-fold stratified cross-validation of dev.jsonl (oos lines spread over the folds):
             each training fold is fitted with opora.bot.engine.fit (threshold for --max-wrong
             from its own inner cross-validation); the held-out fold gives accuracy, OOS recall
             and the wrong-answer rate at that threshold. The pooled out-of-fold confidences
             give the operating curve (answered share vs wrong-answer rate).
  CEDR       anger F1 on test: the word rules alone, the shipped anger model alone
             (opora.ai.anger, trained on CEDR train), and the runtime enrichment (either of the two);
             for reference a logistic regression on sentence embeddings trained on CEDR train.
  Speed      one classification (encoding + model + decision) per message, 1 BLAS thread (ru_support;
             CLINC150 val and oos_val for an encoder with an English-only part): wall
             time p50/p99 and CPU time p50/p99 (the machine is shared: wall time includes waiting
             for a core); enrichment time per message; resident memory before/after loading.

Embeddings are cached in $OPORA_BENCH_CACHE (default ~/.cache/opora-bench); the data sets are read
from $OPORA_BENCH_DATA (default: shared/data beside the checkout).
Usage: .venv/bin/python bench/bot.py [--only clinc,banking,bitext,ru,cedr,speed,transfer]
                                     [--max-wrong 0.02] [--encoder use|e5|use+e5|use+minilm]
                                     [--transfer-halves]
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import itertools
import json
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from opora.ai.anger import load_cedr, shipped
from opora.ai.enrich import enrich
from opora.bot import calibration, classifier, engine
from opora.bot.classifier import IntentModel, params_for, train
from opora.bot.embeddings import CHOICES, ENGLISH_ONLY, ConcatEmbedder, Embedder, make_embedder

# A worktree under /work/wt sits one level deeper than the main checkout, so the data can be named.
DATA = Path(
    os.environ.get("OPORA_BENCH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
CACHE = Path(os.environ.get("OPORA_BENCH_CACHE", Path.home() / ".cache" / "opora-bench"))
# Replaced by main() with the encoder of --encoder; batch encoding uses both cores.
EMBEDDER: Embedder = make_embedder("use", threads=2)
ENCODER_CHOICE = "use"


def embed(texts: Sequence[str]) -> NDArray[np.float32]:
    # A concatenation is cached per encoder, so use+e5 reuses what use and e5 runs encoded.
    if isinstance(EMBEDDER, ConcatEmbedder):
        return np.hstack([_embed_with(part, texts) for part in EMBEDDER.parts])
    return _embed_with(EMBEDDER, texts)


def _embed_with(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(("\x1f".join(texts) + embedder.name).encode()).hexdigest()[:24]
    path = CACHE / f"emb-{key}.npy"
    if path.exists():
        cached: NDArray[np.float32] = np.load(path)
        return cached
    out = np.concatenate([embedder.encode(texts[i : i + 512]) for i in range(0, len(texts), 512)])
    np.save(path, out)
    return out


def fit_predict(tr_x: list[str], tr_y: list[str], te_x: list[str]) -> tuple[list[str], NDArray[np.float64]]:
    model = train(tr_x, tr_y, embed(tr_x), encoder=EMBEDDER.name)
    probs = model.probabilities(te_x, embed(te_x))
    return [model.classes[i] for i in probs.argmax(axis=1)], probs.max(axis=1)


# CLINC150's out-of-scope target, and how the threshold is chosen for it (ADR 0046): the lowest
# threshold at which the one-sided Clopper-Pearson lower bound of the held-out OOS recall, at
# OOS_CONFIDENCE, still reaches OOS_TARGET. An observed 85% is a coin flip on fresh phrases
# (validation resplits: fresh recall >= 85% in 50.5% of them); `--only transfer` measures it.
OOS_TARGET = 0.85
OOS_CONFIDENCE = 0.8
# `--only transfer`: the 200 held-out OOS phrases in this many folds (two of oos_train, two of oos_val).
OOS_FOLDS = 4
# The confidence `--only transfer` compares thresholds on: the bot's margin (ADR 0038) or the plain
# best probability (set by --transfer-score).
TRANSFER_SCORE = "margin"


def oos_threshold(held: NDArray[np.float64], recall: float, confidence: float = OOS_CONFIDENCE, *,
                  method: str = "clopper-pearson") -> float:  # fmt: skip
    """The lowest confidence threshold at which out-of-scope recall (the share of held-out
    out-of-scope scores below it) reaches ``recall``.

    ``confidence`` 0: the observed recall (``np.quantile``, as before ADR 0046). Otherwise a
    lower bound of the recall must reach it: Clopper-Pearson (the product's own bound,
    :func:`calibration.wrong_bound` of the misses) or Wilson's score interval.
    """
    scores = np.sort(np.asarray(held, dtype=np.float64))[::-1]
    n = scores.size
    if n == 0 or not 0.0 < recall < 1.0:
        raise ValueError("need held-out scores and a recall in (0, 1)")
    if confidence <= 0.0:
        at = float(np.quantile(scores, recall))
        # Most out-of-scope margins are exactly 0 (the "not ours" class wins): a quantile that lands
        # on a tie would count the tied phrases as missed, so step just above it.
        return at if np.mean(scores < at) >= recall - 1e-12 else float(np.nextafter(at, np.inf))
    bounds = _recall_bounds(n, confidence, method)
    # The bound falls as misses (scores at or above the threshold) grow; allow as many as it permits.
    misses = max((k for k in range(n + 1) if bounds[k] >= recall - 1e-12), default=-1)
    if misses < 0:
        return float(scores[0]) + 1e-6  # even no miss is not enough: abstain on every such score
    if misses == 0:
        return float(np.nextafter(scores[0], np.inf))
    if misses == n:
        return float(scores[-1])
    # Between the last allowed miss and the first caught phrase, as np.quantile interpolates;
    # with a tie there, just above it (ties count as misses).
    upper, lower = scores[misses - 1], scores[misses]
    return float((upper + lower) / 2) if upper > lower else float(np.nextafter(lower, np.inf))


@functools.cache
def _recall_bounds(n: int, confidence: float, method: str) -> tuple[float, ...]:
    """Lower bounds of the recall after k misses among n, for k = 0 .. n."""
    if method == "clopper-pearson":
        return tuple(1.0 - calibration.wrong_bound(k, n, confidence) for k in range(n + 1))
    if method == "wilson":
        z = float(norm.ppf(confidence))
        p = 1.0 - np.arange(n + 1) / n
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return tuple(float(b) for b in (centre - spread) / (1 + z * z / n))
    raise ValueError(f"unknown method {method!r}")


def _clinc_data() -> dict[str, tuple[list[str], list[str]]]:
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    return {k: ([t for t, _ in v], [y for _, y in v]) for k, v in data.items()}


def _oos_folds(n_first: int, n_second: int, folds: int) -> list[NDArray[np.int64]]:
    """Fold indices over oos_train + oos_val: each half is split on its own (seeded), so the
    folds 0 .. folds/2 - 1 are oos_train's and the rest oos_val's."""
    rng = np.random.default_rng(0)
    per = folds // 2
    first = np.array_split(rng.permutation(n_first), per)
    second = np.array_split(n_first + rng.permutation(n_second), per)
    return [np.sort(f) for f in (*first, *second)]


def _scores(model: IntentModel, texts: list[str]) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    return engine.best_in_scope(model.probabilities(texts, embed(texts)), model.classes)


def clinc() -> None:
    split = _clinc_data()
    tr_x, tr_y = split["train"]
    gold_val, gold_test = np.asarray(split["val"][1]), np.asarray(split["test"][1])
    halves = (split["oos_train"][0], split["oos_val"][0])
    # Each out-of-scope half is scored by a model trained with the other half (ADR 0038), so 200
    # held-out phrases choose the threshold; a model with fewer OOS phrases scores them higher than
    # the deployed one would (ADR 0046), which errs on the side of recall.
    held: list[NDArray[np.float64]] = []
    for trained, scored in ((halves[0], halves[1]), (halves[1], halves[0])):
        half = engine.train_model(tr_x, tr_y, embed(tr_x), trained, embed(trained), encoder=EMBEDDER.name)
        held.append(_scores(half, scored)[1])
    pooled = np.concatenate(held)
    threshold = oos_threshold(pooled, OOS_TARGET)
    before = oos_threshold(pooled, OOS_TARGET, 0.0)
    # The deployed model learns "not ours" from both halves.
    oos_x = [*halves[0], *halves[1]]
    oos_emb = np.concatenate([embed(halves[0]), embed(halves[1])])
    model = engine.train_model(tr_x, tr_y, embed(tr_x), oos_x, oos_emb, encoder=EMBEDDER.name)
    val_pred, val_conf = _scores(model, split["val"][0])
    for name, at in (("chosen", threshold), ("observed 85%, before ADR 0046", before)):
        print(f"  CLINC150 threshold {at:.3f} ({name}): held-out OOS recall {np.mean(pooled < at):.1%} "
              f"of {pooled.size}, val in-scope accuracy {np.mean((val_pred == gold_val) & (val_conf >= at)):.1%}")  # fmt: skip
    pred, conf = _scores(model, split["test"][0])
    _, oos_conf = _scores(model, split["oos_test"][0])
    print(f"CLINC150 test: in-scope accuracy {np.mean((pred == gold_test) & (conf >= threshold)):.1%}, "
          f"OOS recall {np.mean(oos_conf < threshold):.1%} (threshold {threshold:.3f}: the lowest at which the "
          f"{OOS_CONFIDENCE:.0%} Clopper-Pearson lower bound of the recall of 200 held-out OOS phrases is "
          f"{OOS_TARGET:.0%}; accuracy without abstention {np.mean(pred == gold_test):.1%})")  # fmt: skip


# The protocols `--only transfer` compares: (recall aimed at, confidence of its lower bound, bound).
PROTOCOLS: dict[str, tuple[float, float, str]] = {
    "observed 85% (before)": (0.85, 0.0, "clopper-pearson"),
    "observed 88%": (0.88, 0.0, "clopper-pearson"),
    "observed 90%": (0.90, 0.0, "clopper-pearson"),
    "Clopper-Pearson 80%": (0.85, 0.8, "clopper-pearson"),
    "Clopper-Pearson 90%": (0.85, 0.9, "clopper-pearson"),
    "Clopper-Pearson 95%": (0.85, 0.95, "clopper-pearson"),
    "Wilson 90%": (0.85, 0.9, "wilson"),
    "Wilson 95%": (0.85, 0.95, "wilson"),
}


def _fold_model_scores(
    split: dict[str, tuple[list[str], list[str]]], folds: list[NDArray[np.int64]], subset: tuple[int, ...]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """A model trained with the OOS folds of ``subset``: its confidence on all 200 OOS phrases
    (only those outside ``subset`` are held out), and on CLINC150 val whether it is right and its
    confidence. Cached beside the embeddings: each model is a minute of CPU."""
    tr_x, tr_y = split["train"]
    oos_x = [*split["oos_train"][0], *split["oos_val"][0]]
    source = "".join(Path(module.__file__ or "").read_text() for module in (engine, classifier))
    key = hashlib.sha256(
        f"{EMBEDDER.name}|{subset}|{[f.tolist() for f in folds]}|{source}".encode()
    ).hexdigest()[:24]
    path = CACHE / f"transfer-{key}.npz"
    if path.exists():
        got = np.load(path)
        if TRANSFER_SCORE == "probability":
            return got["oos_prob"], got["ok"], got["val_prob"]
        return got["oos"], got["ok"], got["conf"]
    idx = np.concatenate([folds[i] for i in subset])
    oos_emb = np.concatenate([embed(split["oos_train"][0]), embed(split["oos_val"][0])])
    model = engine.train_model(
        tr_x, tr_y, embed(tr_x), [oos_x[j] for j in idx], oos_emb[idx], encoder=EMBEDDER.name
    )
    oos = _scores(model, oos_x)[1]
    pred, conf = _scores(model, split["val"][0])
    ok = pred == np.asarray(split["val"][1])
    # The plain best probability too, so that other OOS scores can be compared without retraining.
    _, oos_prob = engine.best_in_scope(
        model.probabilities(oos_x, embed(oos_x)), model.classes, oos_margin=False
    )
    _, val_prob = engine.best_in_scope(
        model.probabilities(split["val"][0], embed(split["val"][0])), model.classes, oos_margin=False
    )
    np.savez(path, oos=oos, ok=ok, conf=conf, oos_prob=oos_prob, val_prob=val_prob)
    return (oos_prob, ok, val_prob) if TRANSFER_SCORE == "probability" else (oos, ok, conf)


def _rate(n: int, d: int) -> str:
    return f"{n / d:6.1%}" if d else "     -"


def transfer(halves: bool) -> None:
    """Validation only: does a threshold chosen on some held-out OOS phrases keep its recall on
    others? Scenarios (4 OOS folds of 50: two of oos_train, two of oos_val):

      3 folds -> 1   the protocol sees 3 folds, each scored by a model trained with the other two
                     (as the bench scores its 200 with models trained on the rest); the "deployed"
                     model is trained with all 3 and scores the 4th fold, never used (4 scenarios);
      half -> half   (--transfer-halves) ADR 0038's protocol at half size: oos_train's two folds
                     scored by one-fold models, the deployed model trained with oos_train scores
                     oos_val, and the other way round (4 more models);
      resplits       the 200 out-of-fold scores of the 3-fold models, split at random 2,000 times
                     into 100 for the choice and 100 fresh (sampling alone, no retraining).

    Val in-scope accuracy (an abstention counts as wrong) is that of the deployed model at the
    chosen threshold. The test split is not read.
    """
    split = _clinc_data()
    folds = _oos_folds(len(split["oos_train"][0]), len(split["oos_val"][0]), OOS_FOLDS)
    everything = tuple(range(OOS_FOLDS))
    wanted = [s for size in (OOS_FOLDS - 2, OOS_FOLDS - 1) for s in _subsets(everything, size)]
    if halves:
        wanted += [(i,) for i in everything]
    runs = {}
    for subset in wanted:
        start = time.process_time()
        runs[subset] = _fold_model_scores(split, folds, subset)
        print(f"  model with OOS folds {subset}: {time.process_time() - start:.0f} s CPU", flush=True)

    def held_out(seen: tuple[int, ...]) -> NDArray[np.float64]:
        # Each seen fold scored by the model trained with the other seen folds.
        return np.concatenate([runs[tuple(j for j in seen if j != i)][0][folds[i]] for i in seen])

    scenarios: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64], tuple[int, ...]]]] = {
        "3 folds -> 1": [
            (held_out(seen), runs[seen][0][folds[b]], seen)
            for b in everything
            for seen in [tuple(i for i in everything if i != b)]
        ],
    }
    if halves:
        scenarios["half -> half"] = [
            (held_out(seen), runs[seen][0][np.concatenate([folds[i] for i in everything if i not in seen])], seen)
            for seen in ((0, 1), (2, 3))
        ]  # fmt: skip
    print(
        "protocol                   | scenario       chosen  fresh (pooled)  min fresh  fresh>=85%  val in-scope"
    )
    for name, (aim, confidence, method) in PROTOCOLS.items():
        for label, cases in scenarios.items():
            chosen, caught, fresh_n, lowest, held_ok, acc = [], 0, 0, 1.0, 0, []
            for held, fresh, seen in cases:
                at = oos_threshold(held, aim, confidence, method=method)
                chosen.append(np.mean(held < at))
                caught += int((fresh < at).sum())
                fresh_n += fresh.size
                lowest = min(lowest, float(np.mean(fresh < at)))
                held_ok += int(np.mean(fresh < at) >= OOS_TARGET)
                ok, conf = runs[seen][1], runs[seen][2]
                acc.append(np.mean(ok & (conf >= at)))
            print(f"{name:26} | {label:14} {np.mean(chosen):6.1%}  {_rate(caught, fresh_n)} ({caught}/{fresh_n})"
                  f"  {lowest:9.1%}  {held_ok:4}/{len(cases):<5}  {np.mean(acc):6.2%}")  # fmt: skip
    # Sampling alone: the 200 out-of-fold scores of the 3-fold models, re-split at random.
    pool = np.zeros(sum(f.size for f in folds))
    for b in everything:
        pool[folds[b]] = runs[tuple(i for i in everything if i != b)][0][folds[b]]
    deployed = [runs[tuple(i for i in everything if i != b)] for b in everything]
    rng = np.random.default_rng(1)
    order = [rng.permutation(pool.size) for _ in range(2000)]
    print(
        "protocol                   | resplits 100/100: chosen  fresh mean  fresh p10  P(fresh>=85%)  val in-scope"
    )
    for name, (aim, confidence, method) in PROTOCOLS.items():
        chosen, recall, acc = [], [], []
        for perm in order:
            held, new = pool[perm[:100]], pool[perm[100:]]
            at = oos_threshold(held, aim, confidence, method=method)
            chosen.append(np.mean(held < at))
            recall.append(np.mean(new < at))
            acc.append(np.mean([np.mean(ok & (conf >= at)) for _, ok, conf in deployed]))
        print(f"{name:26} | {np.mean(chosen):24.1%}  {np.mean(recall):10.1%}  {np.percentile(recall, 10):9.1%}"
              f"  {np.mean(np.asarray(recall) >= OOS_TARGET):13.1%}  {np.mean(acc):6.2%}")  # fmt: skip
    # How the OOS scores move when a model learns "not ours" from more phrases: the same held-out
    # fold, under a model with one fold fewer, at the threshold of 85% observed recall on the pool.
    at = float(np.quantile(pool, OOS_TARGET))
    for small_size in (1, 2) if halves else (2,):
        pairs = [(s, tuple(sorted({*s, extra}))) for s in _subsets(everything, small_size)
                 for extra in everything if extra not in s and small_size + 1 < OOS_FOLDS]  # fmt: skip
        shifts, small_rec, big_rec = [], [], []
        for small, big in pairs:
            for b in everything:
                if b in big:
                    continue
                shifts.append(np.mean(runs[big][0][folds[b]] - runs[small][0][folds[b]]))
                small_rec.append(np.mean(runs[small][0][folds[b]] < at))
                big_rec.append(np.mean(runs[big][0][folds[b]] < at))
        if pairs:
            print(f"  models with {small_size * 50} -> {(small_size + 1) * 50} OOS phrases, same fresh folds ({len(shifts)} pairs): "
                  f"mean OOS score {np.mean(shifts):+.4f}, recall at {at:.3f} {np.mean(small_rec):.1%} -> {np.mean(big_rec):.1%}")  # fmt: skip


def _subsets(items: tuple[int, ...], size: int) -> list[tuple[int, ...]]:
    return [tuple(c) for c in itertools.combinations(items, size)]


def banking() -> None:
    def load(name: str) -> tuple[list[str], list[str]]:
        rows = list(csv.DictReader((DATA / "banking77" / f"{name}.csv").open()))
        return [r["text"] for r in rows], [r["category"] for r in rows]

    tr_x, tr_y = load("train")
    te_x, te_y = load("test")
    emb = embed(tr_x)
    start = time.process_time()
    # As engine.fit does: the training set's own cross-validation picks the neighbours' weight.
    _, ok, weight = engine.held_out_confidences(tr_x, tr_y, emb, encoder=EMBEDDER.name)
    model = train(tr_x, tr_y, emb, encoder=EMBEDDER.name)
    model.keep_examples(emb, tr_y, weight)
    took = time.process_time() - start
    probs = model.probabilities(te_x, embed(te_x))
    pred = [model.classes[i] for i in probs.argmax(axis=1)]
    linear = [model.classes[i] for i in (probs - weight * model.votes(embed(te_x))).argmax(axis=1)]
    print(f"BANKING77 test accuracy {np.mean([p == y for p, y in zip(pred, te_y, strict=True)]):.1%} "
          f"(neighbours' weight {weight} chosen by 5-fold CV on train, CV accuracy {ok.mean():.1%}; "
          f"linear model alone {np.mean([p == y for p, y in zip(linear, te_y, strict=True)]):.1%}; "
          f"training CPU {took:.0f} s)")  # fmt: skip


def bitext() -> None:
    rows = list(
        csv.DictReader(
            (DATA / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv").open()
        )
    )
    test = [int(hashlib.md5(r["instruction"].encode()).hexdigest(), 16) % 5 == 0 for r in rows]
    tr = [r for r, t in zip(rows, test, strict=True) if not t]
    te = [r for r, t in zip(rows, test, strict=True) if t]
    pred, _ = fit_predict(
        [r["instruction"] for r in tr], [r["intent"] for r in tr], [r["instruction"] for r in te]
    )
    gold = [r["intent"] for r in te]
    acc = np.mean([p == y for p, y in zip(pred, gold, strict=True)])
    print(
        f"Bitext (hash split 80/20, {len(tr)}/{len(te)}): accuracy {acc:.1%}, macro-F1 {f1_score(gold, pred, average='macro'):.3f}"
    )


def ru_support(max_wrong: float) -> None:
    rows = [json.loads(line) for line in (DATA / "ru_support" / "dev.jsonl").open()]
    texts = [r["text"] for r in rows]
    labels = [r["intent"] for r in rows]
    vectors = embed(texts)
    conf_all: list[float] = []
    ok_all: list[bool] = []
    acc, oos_rec, wrong, answered = [], [], [], []
    n_answered = n_wrong = 0
    for tr_idx, te_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels):
        tr_in = [i for i in tr_idx if labels[i] != "oos"]
        tr_oos = [i for i in tr_idx if labels[i] == "oos"]
        fitted = engine.fit(
            [texts[i] for i in tr_in], [labels[i] for i in tr_in], vectors[tr_in],
            [texts[i] for i in tr_oos], vectors[tr_oos], encoder=EMBEDDER.name, max_wrong_rate=max_wrong,
            params=params_for("ru"),
        )  # fmt: skip
        probs = fitted.model.probabilities([texts[i] for i in te_idx], vectors[te_idx])
        best, conf = engine.best_in_scope(probs, fitted.model.classes)  # as the bot decides
        pred = list(best)
        gold = [labels[i] for i in te_idx]
        ok = [p == g for p, g in zip(pred, gold, strict=True)]
        conf_all += list(conf)
        ok_all += ok
        ins = [j for j, g in enumerate(gold) if g != "oos"]
        oos = [j for j, g in enumerate(gold) if g == "oos"]
        acc.append(np.mean([ok[j] for j in ins]))
        oos_rec.append(np.mean([conf[j] < fitted.threshold for j in oos]))
        point = calibration.at_threshold(list(conf), ok, fitted.threshold)
        wrong.append(point.wrong)
        answered.append(point.answered)
        took = np.asarray(conf) >= fitted.threshold
        n_answered += int(took.sum())
        n_wrong += int((~np.asarray(ok)[took]).sum())
    print(f"ru_support 5-fold CV: accuracy {np.mean(acc):.1%}, OOS recall {np.mean(oos_rec):.1%}, "
          f"at the threshold for {max_wrong:.0%}: answered {np.mean(answered):.1%}, wrong answers {np.mean(wrong):.1%} "
          f"(mean of folds; pooled {n_wrong}/{n_answered} = {n_wrong / max(n_answered, 1):.1%}, "
          f"{calibration.CONFIDENCE:.0%} upper bound {calibration.wrong_bound(n_wrong, n_answered):.1%})")  # fmt: skip
    # The curve shows the observed shares (no margin); the bot itself picks with the bound.
    print("  operating curve (pooled out-of-fold, observed shares): threshold  answered  wrong")
    curve = calibration.operating_curve(conf_all, ok_all)
    for target in (0.0, 0.01, 0.02, 0.05, 0.1, 0.2):
        t = calibration.pick_threshold(conf_all, ok_all, target, confidence=0)
        p = calibration.at_threshold(conf_all, ok_all, t)
        print(
            f"    wrong <= {target:4.0%}: threshold {t:.3f}  answered {p.answered:6.1%}  wrong {p.wrong:5.1%}"
        )
    print(
        f"  threshold for 2% wrong answers: observed {calibration.pick_threshold(conf_all, ok_all, 0.02, confidence=0):.3f}, "
        f"with the {calibration.CONFIDENCE:.0%} bound {calibration.pick_threshold(conf_all, ok_all, 0.02):.3f} ({len(curve)} curve points)"
    )


def cedr() -> None:
    tr_x, tr_y = load_cedr(DATA / "cedr_ru_emotion" / "cedr-main-train.csv")
    te_x, te_y = load_cedr(DATA / "cedr_ru_emotion" / "cedr-main-test.csv")
    rules = [enrich(t, learned_anger=False).angry for t in te_x]
    runtime = [enrich(t).angry for t in te_x]
    model = shipped()
    alone = f"{f1_score(te_y, model.probabilities(te_x) >= model.threshold):.3f}" if model else "missing"
    clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=1000).fit(embed(tr_x), tr_y)
    learned = clf.predict(embed(te_x))
    print(f"CEDR anger F1 on test: word rules {f1_score(te_y, rules):.3f}; shipped anger model {alone}; "
          f"runtime enrichment (either) {f1_score(te_y, runtime):.3f}; "
          f"embeddings + LR (reference, not used) {f1_score(te_y, learned):.3f} (positives {sum(te_y)}/{len(te_y)})")  # fmt: skip


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _speed_set() -> tuple[list[str], list[str], list[str], list[str], str]:
    """Training phrases, labels, out-of-scope phrases and messages for the speed run, and the
    language: ru_support, or CLINC150 (English) when the encoder holds an English-only part,
    which only English models use (ADR 0045)."""
    if any(part in ENGLISH_ONLY for part in ENCODER_CHOICE.split("+")):
        data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
        train_rows = data["train"][::5]
        messages = [t for t, _ in data["val"][::5]] + [t for t, _ in data["oos_val"]]
        return (
            [t for t, _ in train_rows],
            [y for _, y in train_rows],
            [t for t, _ in data["oos_train"]],
            messages,
            "en",
        )
    rows = [json.loads(line) for line in (DATA / "ru_support" / "dev.jsonl").open()]
    texts = [r["text"] for r in rows if r["intent"] != "oos"]
    labels = [r["intent"] for r in rows if r["intent"] != "oos"]
    oos = [r["text"] for r in rows if r["intent"] == "oos"]
    return texts, labels, oos, [r["text"] for r in rows], "ru"


def speed() -> None:
    texts, labels, oos, messages, language = _speed_set()
    before = _rss_mb()
    single = make_embedder(ENCODER_CHOICE, threads=1)
    single.encode(["прогрев"])
    loaded = _rss_mb()
    model = engine.train_model(
        texts,
        labels,
        single.encode(texts),
        oos,
        single.encode(oos),
        encoder=single.name,
        params=params_for(language),
    )
    wall, cpu = [], []
    for text in messages * 2:
        # Process CPU, not thread CPU: the e5 engine computes in OpenMP threads of its own (one
        # by default, and then in the calling thread), and the process runs nothing else here.
        start, start_cpu = time.perf_counter(), time.process_time()
        engine.decide(model.probabilities([text], single.encode([text]))[0], model.classes,
                      threshold=0.5, oos_threshold=0.3)  # fmt: skip
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    enrich_cpu = []
    for text in messages:
        start_cpu = time.thread_time()
        enrich(text)
        enrich_cpu.append((time.thread_time() - start_cpu) * 1000)
    print(f"Speed: classification wall p50 {np.percentile(wall, 50):.1f} ms, p99 {np.percentile(wall, 99):.1f} ms; "
          f"CPU p50 {np.percentile(cpu, 50):.1f} ms, p99 {np.percentile(cpu, 99):.1f} ms per message (1 thread); "
          f"enrichment CPU p50 {np.percentile(enrich_cpu, 50):.2f} ms, p99 {np.percentile(enrich_cpu, 99):.2f} ms; "
          f"RSS {before:.0f} MB before the encoder, {loaded:.0f} MB loaded (+{loaded - before:.0f} MB), "
          f"intent model {len(model.to_bytes()) / 1e6:.2f} MB stored; encoder {single.name}; "
          f"{len(messages)} {language} messages")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="clinc,banking,bitext,ru,cedr,speed")
    parser.add_argument("--max-wrong", type=float, default=0.02)
    parser.add_argument("--encoder", choices=CHOICES, default="use", help="sentence encoder (ADR 0042)")
    parser.add_argument("--transfer-halves", action="store_true",
                        help="--only transfer: also ADR 0038's half -> half protocol (4 more models)")  # fmt: skip
    parser.add_argument("--transfer-score", choices=("margin", "probability"), default="margin",
                        help="--only transfer: the confidence the thresholds are chosen on")  # fmt: skip
    return parser


def main() -> None:
    parser_ = parser()
    args = parser_.parse_args()
    only = args.only.split(",")
    if "e5" in args.encoder and "speed" in only and len(only) > 1:
        # The e5 engine's OpenMP runtime keeps the thread count of its first load in a process,
        # so the one-thread speed run cannot follow the two-thread batch encoding.
        parser_.error("with an e5 encoder, run --only speed in a process of its own")
    global EMBEDDER, ENCODER_CHOICE, TRANSFER_SCORE
    ENCODER_CHOICE = args.encoder
    TRANSFER_SCORE = args.transfer_score
    EMBEDDER = make_embedder(args.encoder, threads=2)
    if not DATA.exists():
        print(f"skipped: {DATA} is missing (the shared data sets are not in the repository)")
        return
    jobs = {
        "clinc": clinc,
        "transfer": lambda: transfer(args.transfer_halves),
        "banking": banking,
        "bitext": bitext,
        "ru": lambda: ru_support(args.max_wrong),
        "cedr": cedr,
        "speed": speed,
    }
    for name in only:
        start = time.time()
        jobs[name]()
        print(f"  ({name}: {time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
