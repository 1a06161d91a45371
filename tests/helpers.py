"""Test helpers: tiny generated data and the flags of a tiny model (imported as `from helpers import ...`)."""

import csv
import json
import random

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
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def metrics_history(directory) -> list[dict]:
    """A run's metrics.jsonl, one dict per epoch, without the times (which differ between any two runs)."""
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (directory / "metrics.jsonl").read_text().splitlines()]
