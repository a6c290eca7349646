"""bench/oos_scores.py (issue 8, validation only): its synthetic negatives and neighbour similarity."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def oos() -> ModuleType:
    # bench/ is not a package; the script loads bench/bot.py beside it (encoder created, not loaded).
    path = Path(__file__).resolve().parents[2] / "bench" / "oos_scores.py"
    spec = importlib.util.spec_from_file_location("bench_oos_scores", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_oos_scores"] = module
    spec.loader.exec_module(module)
    return module


def test_synthetic_negatives_join_halves_of_two_intents_and_are_seeded(oos: ModuleType) -> None:
    texts = ["a1 a2 a3 a4", "a5 a6", "b1 b2 b3 b4", "b5 b6 b7", "c1 c2"]
    labels = ["a", "a", "b", "b", "c"]
    first = oos.synthetic_negatives(texts, labels, 6)
    assert first == oos.synthetic_negatives(texts, labels, 6)
    assert len(set(first)) == 6
    for phrase in first:
        starts, ends = {w[0] for w in phrase.split()[:1]}, {w[0] for w in phrase.split()[-1:]}
        assert starts != ends  # the first half and the second half come from different intents


def test_neighbour_similarity_uses_the_predicted_intent_and_one_part(oos: ModuleType) -> None:
    # Two parts of two columns each; part 0 says class 0, part 1 says class 1.
    train = np.array([[1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0]], dtype=np.float32)
    classes = np.array([0, 0, 1])
    row = np.array([[1, 0, 1, 0]], dtype=np.float32)
    first, second = slice(0, 2), slice(2, 4)
    assert oos.neighbour_similarity(row, np.array([0]), train, classes, first)[0] == pytest.approx(1.0)
    assert oos.neighbour_similarity(row, np.array([0]), train, classes, second)[0] == pytest.approx(0.0)
    assert oos.neighbour_similarity(row, np.array([1]), train, classes, second)[0] == pytest.approx(1.0)
