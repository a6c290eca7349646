"""bench/bot.py: its options parse, and the CLINC150 threshold protocol of ADR 0046 does what it says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from opora.bot import calibration


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    # bench/ is not a package; load the script as a module (its encoder is created, not loaded).
    path = Path(__file__).resolve().parents[2] / "bench" / "bot.py"
    spec = importlib.util.spec_from_file_location("bench_bot", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_bot"] = module
    spec.loader.exec_module(module)
    return module


def test_options_parse(bench: ModuleType) -> None:
    args = bench.parser().parse_args(
        [
            "--only",
            "transfer",
            "--encoder",
            "use+minilm",
            "--transfer-halves",
            "--transfer-score",
            "probability",
        ]
    )
    assert (args.only, args.encoder, args.transfer_halves, args.transfer_score) == (
        "transfer",
        "use+minilm",
        True,
        "probability",
    )
    defaults = bench.parser().parse_args([])
    assert defaults.encoder == "use" and not defaults.transfer_halves and "transfer" not in defaults.only


def test_observed_recall_is_the_quantile(bench: ModuleType) -> None:
    scores = np.random.default_rng(0).random(200)
    assert bench.oos_threshold(scores, 0.85, 0.0) == pytest.approx(np.quantile(scores, 0.85))


@pytest.mark.parametrize("method", ["clopper-pearson", "wilson"])
def test_bound_allows_the_most_misses_it_can_certify(bench: ModuleType, method: str) -> None:
    scores = np.random.default_rng(1).random(200)
    at = bench.oos_threshold(scores, 0.85, 0.9, method=method)
    misses = int((scores >= at).sum())
    observed = bench.oos_threshold(scores, 0.85, 0.0)
    # Stricter than the observed 85%, and exactly the bound's limit: one more miss would fail it.
    assert at > observed and 1 - misses / 200 > 0.85
    if method == "clopper-pearson":
        assert 1 - calibration.wrong_bound(misses, 200, 0.9) >= 0.85
        assert 1 - calibration.wrong_bound(misses + 1, 200, 0.9) < 0.85
    # The threshold sits between the last allowed miss and the first phrase it catches.
    ordered = np.sort(scores)[::-1]
    assert ordered[misses] < at <= ordered[misses - 1]


def test_higher_confidence_is_stricter(bench: ModuleType) -> None:
    scores = np.random.default_rng(2).random(300)
    levels = [bench.oos_threshold(scores, 0.85, c) for c in (0.0, 0.8, 0.9, 0.95)]
    assert levels == sorted(levels) and len(set(levels)) == 4


def test_ties_count_as_misses(bench: ModuleType) -> None:
    scores = np.array([0.9] * 10 + [0.1] * 190)
    at = bench.oos_threshold(scores, 0.85, 0.9)
    assert np.mean(scores < at) >= 0.85  # the tied 0.9s are caught together or not at all


def test_too_few_phrases_abstain_on_all(bench: ModuleType) -> None:
    # Three phrases can never show 85% recall at 95%: the threshold lies above every score.
    scores = np.array([0.2, 0.5, 0.7])
    assert np.all(scores < bench.oos_threshold(scores, 0.85, 0.95))


def test_bad_input_is_refused(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match="held-out scores"):
        bench.oos_threshold(np.array([]), 0.85)
    with pytest.raises(ValueError, match="recall in"):
        bench.oos_threshold(np.array([0.1, 0.2]), 1.0)
    with pytest.raises(ValueError, match="unknown method"):
        bench.oos_threshold(np.array([0.1, 0.2]), 0.85, 0.9, method="normal")


def test_observed_recall_steps_over_a_tie(bench: ModuleType) -> None:
    # 90 of 100 margins at 0: the 85% quantile is 0, which would catch none of them.
    scores = np.array([0.0] * 90 + list(np.linspace(0.1, 0.9, 10)))
    at = bench.oos_threshold(scores, 0.85, 0.0)
    assert np.mean(scores < at) == pytest.approx(0.9)
