"""Shared fixtures: a small synthetic sentiment data set that a tiny model learns in seconds."""

import os
import random
import shutil
import tempfile

import pytest

# Keep the datasets cache of the files the tests write out of the user's ~/.cache (read at datasets' import).
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="textrnn-tests-hf-")


@pytest.fixture(scope="session", autouse=True)
def remove_datasets_cache():
    yield
    shutil.rmtree(os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

POSITIVE = ["great", "wonderful", "superb", "delightful", "brilliant", "moving", "charming", "excellent"]
NEGATIVE = ["awful", "boring", "dreadful", "terrible", "dull", "clumsy", "tedious", "horrible"]
NEUTRAL = ["the", "film", "a", "story", "was", "and", "it", "plot", "acting", "of", "this", "movie", "scenes",
           "with", "cast", "director", "music", "ending", "at", "times", "quite", "really", "very", "an"]
TINY_MODEL = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "16", "--lr", "0.01", "--no-progress",
              "--device", "cpu"]


def make_texts(count: int, seed: int) -> list[tuple[str, str]]:
    """(text, label) pairs: neutral filler of varied length with one to three sentiment words."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(2, 30))]
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        text = " ".join(words).capitalize() + rng.choice([".", "!", "...", " <br /> "])
        rows.append((text, label))
    return rows


def write_csv(path, rows, header=("text", "label")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory):
    """train.csv (600 rows) and test.csv (200 rows) with string labels pos/neg."""
    root = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_csv(root / "train.csv", make_texts(600, seed=1)),
        "test": write_csv(root / "test.csv", make_texts(200, seed=2)),
    }


@pytest.fixture(scope="session")
def trained_run(sentiment_files, tmp_path_factory):
    """One tiny model trained through the command line, shared by the tests that only read it."""
    from textrnn.cli import main

    output = tmp_path_factory.mktemp("runs") / "sentiment"
    code = main(["train", "--train-file", str(sentiment_files["train"]), "--test-file", str(sentiment_files["test"]),
                 "--output", str(output), "--epochs", "4", "--seed", "0", *TINY_MODEL])
    assert code == 0
    return output
