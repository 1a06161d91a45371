"""Accuracy: textrnn against a TF-IDF + logistic-regression baseline on every data set, several seeds.

    .venv/bin/python scripts/benchmark_accuracy.py                        # every set in ../shared/data, seeds 0-2
    .venv/bin/python scripts/benchmark_accuracy.py --datasets sst2 --seeds 0
    .venv/bin/python scripts/benchmark_accuracy.py --quick                # 2,000 texts a set, 1 seed: a smoke test
    .venv/bin/python scripts/benchmark_accuracy.py --from-log             # the table again from the run log

For each data set and seed, `textrnn train` runs with its defaults (which pick the preset for the
texts' length) on the data set's own splits. A set without a test split (SST-2 ships train and GLUE's
validation only) is scored on its validation split, which then takes no part in training: both sides
hold out 10% of train for early stopping and choosing C instead, so no number is chosen on the split it
reports. The baseline (scikit-learn TfidfVectorizer over word 1-2
grams + LogisticRegression, C chosen on the validation split) trains on exactly the texts textrnn
trains on and is scored on the same test split. Results go between the benchmark markers of
docs/RESULTS.md, one row per data set: accuracy mean ± standard deviation over the seeds, time, device.
Every run's summary is also appended to docs/results/accuracy_runs.jsonl.
"""

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textrnn.cli import main as textrnn_main  # noqa: E402
from textrnn.config import TrainConfig  # noqa: E402
from textrnn.data import load_splits, prepare_data, quiet_datasets  # noqa: E402
from markdown_block import replace_block  # noqa: E402  (beside this script)

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
RUN_LOG = ROOT / "docs" / "results" / "accuracy_runs.jsonl"


def tfidf_baseline(data) -> dict:
    """Word 1-2 gram TF-IDF + logistic regression; C picked by validation accuracy, scored on test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.time()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode")
    train_x = vectorizer.fit_transform(data.train["text"])
    valid_x, test_x = vectorizer.transform(data.validation["text"]), vectorizer.transform(data.test["text"])
    train_y, valid_y, test_y = (np.asarray(split["label"]) for split in (data.train, data.validation, data.test))
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(train_x, train_y)
        valid_accuracy = float((model.predict(valid_x) == valid_y).mean())
        if best is None or valid_accuracy > best[0]:
            best = (valid_accuracy, c, model)
    valid_accuracy, c, model = best
    return {"accuracy": float((model.predict(test_x) == test_y).mean()), "valid_accuracy": valid_accuracy, "C": c,
            "seconds": time.time() - started}


def split_files(folder: Path) -> dict[str, Path]:
    """A data set folder's files by split name (train.parquet -> train)."""
    return {path.name.split(".")[0]: path for path in sorted(folder.iterdir()) if path.is_file()}


def data_flags(folder: Path) -> list[str]:
    """textrnn's data flags: the folder, or with no test split, train and its validation file as the test."""
    files = split_files(folder)
    if "test" in files or "validation" not in files:
        return ["--dataset", str(folder)]
    return ["--train-file", str(files["train"]), "--test-file", str(files["validation"])]


def quick_copy(data, folder: Path) -> Path:
    """2,000 training, 500 validation and 1,000 test texts of `data` as parquet files: a smoke test's data."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, split, size in (("train", data.train, 2000), ("validation", data.validation, 500),
                              ("test", data.test, 1000)):
        split.shuffle(seed=0).select(range(min(size, len(split)))).to_parquet(str(folder / f"{name}.parquet"))
    return folder


def run_textrnn(data_args: list[str], seed: int, output: Path, extra: list[str]) -> dict:
    argv = ["train", *data_args, "--output", str(output), "--seed", str(seed), "--force", "--no-progress", *extra]
    started = time.time()
    if textrnn_main(argv) != 0:
        raise SystemExit(f"textrnn {' '.join(argv)} failed")
    report = json.loads((output / "eval_report.json").read_text())
    trained = json.loads((output / "train_config.json").read_text())
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "seconds": time.time() - started,
            "command": "textrnn " + shlex.join(argv), "preset": trained.get("preset"), "device": trained.get("device")}


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def write_results(rows: list[dict], path: Path, command: str) -> None:
    lines = [f"Produced by `{command}` on {date.today().isoformat()}, device: {device_name()}, "
             f"PyTorch {torch.__version__}.", "",
             "| data (test split) | seeds | textrnn accuracy % (mean ± sd) | per seed | textrnn time per run | "
             "TF-IDF + LR accuracy % | preset |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        accuracies = [run["accuracy"] for run in row["runs"]]
        minutes = statistics.mean(run["seconds"] for run in row["runs"]) / 60
        lines.append(f"| {row['dataset']} ({row['test_split']}) | {len(accuracies)} | **{mean_sd(accuracies)}** | "
                     f"{', '.join(f'{100 * a:.2f}' for a in accuracies)} | {minutes:.1f} min | "
                     f"{100 * row['baseline']['accuracy']:.2f} (C={row['baseline']['C']}) | "
                     f"{row['runs'][0]['preset']} |")
    lines += ["", "Commands, one per data set (the seed varies):", ""]
    lines += [f"- `{row['runs'][0]['command']}`" for row in rows]
    replace_block(path, "benchmark_accuracy", "\n".join(lines), "Results")


def rows_from_log(log: Path, names: list[str], root: Path) -> list[dict]:
    """Each data set's latest run per seed from the run log, as write_results takes them."""
    latest = {}
    for line in log.read_text().splitlines():
        run = json.loads(line)
        latest[run["dataset"], run["seed"]] = run
    rows = []
    for name in names:
        runs = [run for (dataset, _), run in sorted(latest.items()) if dataset == name]
        if runs:
            test_split = "test" if "--dataset" in data_flags(root / name) else "validation"
            rows.append({"dataset": name, "test_split": test_split, "runs": runs, "baseline": runs[-1]["baseline"]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", help="default: every folder in --data-root")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--runs", default=str(ROOT / "runs" / "benchmark"), help="where the trained models go")
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS.md"))
    parser.add_argument("--quick", action="store_true", help="2,000 training texts a set, 1 seed, 1 epoch; no docs")
    parser.add_argument("--from-log", action="store_true",
                        help="rewrite the table from docs/results/accuracy_runs.jsonl (each set's latest runs) "
                             "without training")
    parser.add_argument("extra", nargs="*", help="more textrnn train flags, after --")
    args = parser.parse_args(argv)
    quiet_datasets()
    seeds, extra = (args.seeds[:1], [*args.extra, "--epochs", "1"]) if args.quick else (args.seeds, args.extra)
    root = Path(args.data_root)
    names = args.datasets or sorted(p.name for p in root.iterdir() if p.is_dir())
    if args.from_log:
        write_results(rows_from_log(RUN_LOG, names, root), Path(args.results),
                      "python scripts/benchmark_accuracy.py --from-log")
        return 0
    rows = []
    for name in names:
        flags = data_flags(root / name)
        test_split = "test" if "--dataset" in flags else "validation"
        files = dict(zip(flags[::2], flags[1::2]))
        data = prepare_data(load_splits(files.get("--dataset"), files.get("--train-file"),
                                        test_file=files.get("--test-file")), seed=TrainConfig.seed)
        if args.quick:
            data = prepare_data(load_splits(str(quick_copy(data, Path(args.runs) / "quick-data" / name))))
            flags = ["--dataset", str(Path(args.runs) / "quick-data" / name)]
        baseline = tfidf_baseline(data)
        print(f"{name}: TF-IDF + LR {baseline['accuracy']:.2%} (C={baseline['C']}, {baseline['seconds']:.0f}s)")
        runs = []
        for seed in seeds:
            run = run_textrnn(flags, seed, Path(args.runs) / f"{name}-seed{seed}", extra)
            print(f"{name} seed {seed}: textrnn {run['accuracy']:.2%} in {run['seconds'] / 60:.1f} min")
            runs.append(run)
            if args.quick:
                continue
            RUN_LOG.parent.mkdir(parents=True, exist_ok=True)
            with open(RUN_LOG, "a") as handle:
                handle.write(json.dumps({"dataset": name, "seed": seed, "date": date.today().isoformat(),
                                         "device": device_name(), **run, "baseline": baseline}) + "\n")
        rows.append({"dataset": name, "test_split": test_split, "runs": runs, "baseline": baseline})
    if args.quick:
        return 0
    command = "python scripts/benchmark_accuracy.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])
                                                         if (argv if argv is not None else sys.argv[1:]) else "")
    write_results(rows, Path(args.results), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
