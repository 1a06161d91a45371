"""The fastText baseline of scripts/benchmark_accuracy.py, fitted in a child process that a timeout can stop.

    .venv/bin/python scripts/fasttext_baseline.py FOLDER --threads 2 --seed 0 --autotune-seconds 120

The benchmark writes FOLDER (train.txt, valid.txt, test.txt in fastText's format, task.json and targets.npz)
with `write_inputs` and runs this script on it through `fasttext_baseline`, which reads FOLDER/result.json.
Why a child process: fastText 0.9.2's autotune can lose its own deadline. On IMDB with one thread a single
trial once ran 95 minutes past a 120-second budget (py-spy: FastText::trainThread under Autotune::train), and
a thread inside the benchmark cannot be stopped. A process can: past its timeout it is killed and started
again once, with the same settings; a second overrun fails that baseline with a clear message.

Single-label sets: wordNgrams=2 fixed, bucket fixed (FASTTEXT_BUCKET), autotune chooses lr, epoch, dim,
subwords and dsub by validation accuracy within the seconds given, then retrains on train. Multi-label sets:
one-vs-all loss over FASTTEXT_MULTI_GRID, each fit scored by validation macro-F1 with per-label thresholds tuned
on validation. With more than one thread fastText is not deterministic even for a fixed seed.
"""

import argparse
import itertools
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import label_ids, multi_label_scores, tuned_macro_f1

# fastText, multi-label (loss "ova"): autotune scores one prediction a text against a 0.0 threshold, so it cannot
# tune for per-label thresholds; this grid is searched instead, each fit scored by validation macro-F1 with its
# thresholds tuned on validation, as the TF-IDF baseline's C is.
FASTTEXT_MULTI_GRID = {"lr": (0.1, 0.3, 1.0), "epoch": (5, 15, 30), "dim": (50, 100)}
# fastText's default; fixed because autotune would otherwise search 10k to 10M buckets by up to 1,000 dimensions
# (40 GB at the top), more memory than a shared machine has.
FASTTEXT_BUCKET = 2_000_000
FASTTEXT_SETTINGS = ("lr", "epoch", "dim", "wordNgrams", "minn", "maxn", "minCount", "bucket", "dsub", "loss")
PUNCTUATION = re.compile(r"([^\w\s])")
SCRIPT = Path(__file__).resolve()


# ----------------------------------------------------------------------------- the benchmark's side


def fasttext_text(text: str, spaced: bool) -> str:
    """A text as one fastText line. fastText splits on whitespace only, so the text is tokenized here, simply:
    lowercased, and in a spaced script punctuation split off the words ("Don't stop." -> "don ' t stop ."); in a
    script written without spaces (Chinese) every character becomes a token ("很好用" -> "很 好 用"), as the TF-IDF
    baseline takes characters there. Newlines and other whitespace runs become one space."""
    text = text.lower()
    return " ".join((PUNCTUATION.sub(r" \1 ", text) if spaced else " ".join(text)).split())


def write_fasttext_file(path: Path, texts: list[str], labels, spaced: bool) -> Path:
    """fastText's supervised format: `__label__N` for each of the line's label ids, then the text."""
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in zip(texts, labels):
            labels_part = " ".join(f"__label__{i}" for i in label_ids(label))
            handle.write(f"{labels_part} {fasttext_text(text, spaced)}\n")
    return path


def write_inputs(folder: Path, data, targets: tuple, spaced: bool) -> Path:
    """Everything the child needs, in `folder`: the three splits as fastText files, the task (single- or
    multi-label, the label names) and the validation and test targets (class ids or multi-hot rows)."""
    for split, name in ((data.train, "train"), (data.validation, "valid"), (data.test, "test")):
        write_fasttext_file(folder / f"{name}.txt", split["text"], split["label"], spaced)
    (folder / "task.json").write_text(json.dumps({"multi": data.problem_type == "multi",
                                                  "label_names": list(data.label_names)}))
    np.savez(folder / "targets.npz", valid=targets[1], test=targets[2])
    return folder


def run_with_timeout(command: list[str], timeout: float, attempts: int = 2) -> int:
    """Run `command` until it exits 0, killing it past `timeout` seconds and starting it again, `attempts` times
    in all; the attempts it took. A non-zero exit is an error at once (a retry would fail the same way)."""
    for attempt in range(1, attempts + 1):
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"attempt {attempt} of {attempts} passed its {timeout:.0f} s and was stopped: "
                  f"{shlex.join(command)}", flush=True)
            continue
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return attempt
    raise TimeoutError(f"{shlex.join(command)} passed its {timeout:.0f} s on each of {attempts} attempts")


def fasttext_baseline(data, targets: tuple, spaced: bool, threads: int = 2, seed: int = 0,
                      autotune_seconds: int = 120, timeout: float | None = None) -> dict:
    """fastText with word bigrams trained on the TF-IDF baseline's training texts, tuned on validation, scored
    on test, in a child process (this file) that is stopped and started again once past `timeout` seconds
    (default: five times the autotune budget plus five minutes)."""
    timeout = 5 * autotune_seconds + 300 if timeout is None else timeout
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        write_inputs(Path(folder), data, targets, spaced)
        attempts = run_with_timeout([sys.executable, str(SCRIPT), folder, "--threads", str(threads), "--seed",
                                     str(seed), "--autotune-seconds", str(autotune_seconds)], timeout)
        result = json.loads((Path(folder) / "result.json").read_text())
    features = "word 1-2 grams (lowercased, punctuation split off)" if spaced else \
        "character 1-2 grams (characters as tokens)"
    return {"features": features, **result, "attempts": attempts, "timeout": timeout,
            "seconds": time.time() - started}


# ----------------------------------------------------------------------------- the child's side


def fasttext_probabilities(model, lines: list[str], num_labels: int) -> np.ndarray:
    """[len(lines), num_labels] probabilities of every label, line by line through the binding's own predict
    (model.f.predict), which returns plain (probability, label) pairs. Not model.predict: with numpy 2, fasttext
    0.9.2's predict of one string fails on np.array(probs, copy=False) (ValueError), and its predict of a list
    (multilinePredict) returns every line's probability array filled with the top label's probability. The
    trailing newline is what model.predict adds: the end-of-line token the model saw in training."""
    matrix = np.zeros((len(lines), num_labels))
    for row, line in enumerate(lines):
        for probability, name in model.f.predict(line + "\n", -1, 0.0, "strict"):
            matrix[row, int(name.removeprefix("__label__"))] = probability
    return matrix


def fasttext_settings(model) -> dict:
    """The settings a fastText model was trained with (autotune's choice), which fastText never prints."""
    args = model.f.getArgs()
    settings = {name: getattr(args, name) for name in FASTTEXT_SETTINGS}
    settings["loss"] = str(settings["loss"]).rpartition(".")[2]  # loss_name.softmax -> softmax
    settings["lr"] = round(settings["lr"], 4)
    return settings


def texts_of(path: Path) -> list[str]:
    """A fastText file's texts, its `__label__` words dropped."""
    return [" ".join(word for word in line.split(" ") if not word.startswith("__label__"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def fit(folder: Path, threads: int, seed: int, autotune_seconds: int) -> dict:
    """The fit itself, on the inputs `write_inputs` left in `folder`: the result the benchmark records."""
    import fasttext

    task = json.loads((folder / "task.json").read_text())
    targets = np.load(folder / "targets.npz")
    valid_y, test_y = targets["valid"], targets["test"]
    valid_lines, test_lines = texts_of(folder / "valid.txt"), texts_of(folder / "test.txt")
    num_labels = len(task["label_names"])
    common = {"input": str(folder / "train.txt"), "wordNgrams": 2, "bucket": FASTTEXT_BUCKET, "thread": threads,
              "seed": seed, "verbose": 0}
    result = {"thread": threads, "seed": seed, "fasttext": getattr(fasttext, "__version__", "0.9.2")}
    if task["multi"]:
        best = None
        for lr, epoch, dim in itertools.product(*FASTTEXT_MULTI_GRID.values()):
            model = fasttext.train_supervised(**common, loss="ova", lr=lr, epoch=epoch, dim=dim)
            score, thresholds = tuned_macro_f1(valid_y, fasttext_probabilities(model, valid_lines, num_labels),
                                               task["label_names"])
            if best is None or score > best[0]:
                best = (score, model, thresholds)
        score, model, thresholds = best
        test_probs = fasttext_probabilities(model, test_lines, num_labels)
        return {**result, "tuning": f"grid {FASTTEXT_MULTI_GRID} by validation macro-F1",
                "settings": fasttext_settings(model), "valid_score": score,
                **multi_label_scores(test_y, test_probs, thresholds, task["label_names"])}
    model = fasttext.train_supervised(**common, autotuneValidationFile=str(folder / "valid.txt"),
                                      autotuneDuration=autotune_seconds)
    valid_probs, test_probs = (fasttext_probabilities(model, lines, num_labels) for lines in (valid_lines, test_lines))
    return {**result, "tuning": f"autotune {autotune_seconds} s by validation accuracy",
            "settings": fasttext_settings(model), "valid_score": float((valid_probs.argmax(1) == valid_y).mean()),
            "accuracy": float((test_probs.argmax(1) == test_y).mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the inputs write_inputs wrote; result.json goes here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--autotune-seconds", type=int, default=120)
    args = parser.parse_args(argv)
    result = fit(args.folder, args.threads, args.seed, args.autotune_seconds)
    (args.folder / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
