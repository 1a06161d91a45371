"""--class-weight balanced: on strongly skewed data, the rare class is found far more often."""

import json
import random

import pytest

from helpers import TINY_MODEL, write_csv

from textrnn.cli import main

pytestmark = pytest.mark.slow  # whole training runs


def skewed_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """1 text in 20 is "rare". "good" appears in 60% of rare texts and 10% of common ones, so without weights
    P(rare | good) is about 0.24 and a model rightly never predicts "rare"; weighted, it is about 0.86."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "rare" if i % 20 == 0 else "common"
        words = [rng.choice(["the", "a", "item", "was", "it", "and", "then", "box"]) for _ in range(rng.randint(3, 8))]
        if rng.random() < (0.6 if label == "rare" else 0.1):
            words.insert(rng.randint(0, len(words)), "good")
        rows.append((" ".join(words), label))
    return rows


def rare_recall(tmp_path, name: str, *flags: str) -> float:
    train = write_csv(tmp_path / "train.csv", skewed_rows(1200, seed=1))
    test = write_csv(tmp_path / "test.csv", skewed_rows(600, seed=2))
    output = tmp_path / name
    assert main(["train", "--train-file", str(train), "--test-file", str(test), "--output", str(output),
                 "--epochs", "3", "--seed", "0", *TINY_MODEL, *flags]) == 0
    return json.loads((output / "eval_report.json").read_text())["per_class"]["rare"]["recall"]


def test_balanced_class_weights_raise_the_rare_class_recall(tmp_path):
    plain = rare_recall(tmp_path, "plain")
    balanced = rare_recall(tmp_path, "balanced", "--class-weight", "balanced")
    assert balanced > plain + 0.3, (plain, balanced)
    saved = json.loads((tmp_path / "balanced" / "train_config.json").read_text())
    assert saved["class_weight"] == "balanced" and saved["metric"] == "macro_f1"  # else accuracy picks "ignore it"
