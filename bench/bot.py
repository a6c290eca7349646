"""Intent model, abstention and enrichment: quality on public sets, speed and memory.

Data from ../shared/data (never copied into the repo); sets that are missing are skipped.
Tuning uses train/validation only; test splits are only reported.

  CLINC150   train + oos_train + oos_val -> model (opora.bot.engine.train_model: the out-of-scope
             phrases become a class of their own). The threshold is the one giving 85% recall on
             200 held-out OOS phrases: oos_val scored by a model trained with oos_train and the
             other way round. Test in-scope accuracy (an abstention counts as wrong) and OOS
             recall; val in-scope accuracy at the same threshold.
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

Embeddings are cached in $OPORA_BENCH_CACHE (default ~/.cache/opora-bench).
Usage: .venv/bin/python bench/bot.py [--only clinc,banking,bitext,ru,cedr,speed] [--max-wrong 0.02]
                                     [--encoder use|e5|use+e5|use+minilm]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from opora.ai.anger import load_cedr, shipped
from opora.ai.enrich import enrich
from opora.bot import calibration, engine
from opora.bot.classifier import IntentModel, params_for, train
from opora.bot.embeddings import CHOICES, ENGLISH_ONLY, ConcatEmbedder, Embedder, make_embedder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
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


def clinc() -> None:
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    split = {k: ([t for t, _ in v], [y for _, y in v]) for k, v in data.items()}
    tr_x, tr_y = split["train"]
    gold_val, gold_test = np.asarray(split["val"][1]), np.asarray(split["test"][1])
    halves = (split["oos_train"][0], split["oos_val"][0])

    def scores(model: IntentModel, texts: list[str]) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
        return engine.best_in_scope(model.probabilities(texts, embed(texts)), model.classes)

    # Each out-of-scope half is scored by a model trained with the other half, so 200 held-out
    # phrases (not the 100 of oos_val alone) choose the threshold for 85% OOS recall.
    held: list[NDArray[np.float64]] = []
    for trained, scored in ((halves[0], halves[1]), (halves[1], halves[0])):
        half = engine.train_model(tr_x, tr_y, embed(tr_x), trained, embed(trained), encoder=EMBEDDER.name)
        held.append(scores(half, scored)[1])
        val_pred, val_conf = scores(half, split["val"][0])
        at = float(np.quantile(held[-1], 0.85))
        print(f"  CLINC150 val, model with {len(trained)} OOS phrases: in-scope accuracy {np.mean((val_pred == gold_val) & (val_conf >= at)):.1%} "
              f"at 85% recall of the other {len(scored)} (threshold {at:.3f}), at 90% "
              f"{np.mean((val_pred == gold_val) & (val_conf >= np.quantile(held[-1], 0.9))):.1%}")  # fmt: skip
    threshold = float(np.quantile(np.concatenate(held), 0.85))
    # The deployed model learns "not ours" from both halves.
    oos_x = [*halves[0], *halves[1]]
    oos_emb = np.concatenate([embed(halves[0]), embed(halves[1])])
    model = engine.train_model(tr_x, tr_y, embed(tr_x), oos_x, oos_emb, encoder=EMBEDDER.name)
    val_pred, val_conf = scores(model, split["val"][0])
    val_acc = np.mean((val_pred == gold_val) & (val_conf >= threshold))
    pred, conf = scores(model, split["test"][0])
    in_acc = np.mean((pred == gold_test) & (conf >= threshold))
    _, oos_conf = scores(model, split["oos_test"][0])
    raw = np.mean(pred == gold_test)
    print(f"CLINC150 test: in-scope accuracy {in_acc:.1%}, OOS recall {np.mean(oos_conf < threshold):.1%} "
          f"(threshold {threshold:.3f} from 200 held-out OOS phrases; val in-scope accuracy {val_acc:.1%}; "
          f"accuracy without abstention {raw:.1%})")  # fmt: skip


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="clinc,banking,bitext,ru,cedr,speed")
    parser.add_argument("--max-wrong", type=float, default=0.02)
    parser.add_argument("--encoder", choices=CHOICES, default="use", help="sentence encoder (ADR 0042)")
    args = parser.parse_args()
    only = args.only.split(",")
    if "e5" in args.encoder and "speed" in only and len(only) > 1:
        # The e5 engine's OpenMP runtime keeps the thread count of its first load in a process,
        # so the one-thread speed run cannot follow the two-thread batch encoding.
        parser.error("with an e5 encoder, run --only speed in a process of its own")
    global EMBEDDER, ENCODER_CHOICE
    ENCODER_CHOICE = args.encoder
    EMBEDDER = make_embedder(args.encoder, threads=2)
    if not DATA.exists():
        print(f"skipped: {DATA} is missing (the shared data sets are not in the repository)")
        return
    jobs = {
        "clinc": clinc,
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
