"""Accuracy: textrnn against a TF-IDF + logistic-regression baseline on every data set, several seeds.

    .venv/bin/python scripts/benchmark_accuracy.py                        # every set in ../shared/data, seeds 0-2
    .venv/bin/python scripts/benchmark_accuracy.py --datasets sst2 --seeds 0
    .venv/bin/python scripts/benchmark_accuracy.py --datasets online_shopping_zh:category  # NAME:LABEL_COLUMN
    .venv/bin/python scripts/benchmark_accuracy.py --quick                # 2,000 texts a set, 1 seed: a smoke test
    .venv/bin/python scripts/benchmark_accuracy.py --from-log             # the table again from the run log

For each data set and seed, `textrnn train` runs with its defaults (which pick the preset for the
texts' length) on the data set's own splits. A set without a test split (SST-2 ships train and GLUE's
validation only) is scored on its validation split, which then takes no part in training: both sides
hold out 10% of train for early stopping and choosing C instead, so no number is chosen on the split it
reports. The baseline (scikit-learn TfidfVectorizer over word 1-2
grams + LogisticRegression, C chosen on the validation split; character 1-3 grams for text in a script
written without spaces) trains on exactly the texts textrnn trains on and is scored on the same test split.
Multi-label sets (goemotions) are scored by macro- and micro-F1, the baseline being one-vs-rest logistic
regressions with per-label thresholds tuned on the validation split as textrnn tunes its own. Results go
between the benchmark markers of docs/RESULTS.md, one row per data set: accuracy (multi-label: macro-F1) mean
± standard deviation over the seeds, time, device.
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
from textrnn.multilabel import multi_hot, multi_label_metrics, predict, tune_thresholds  # noqa: E402
from textrnn.tokenizer import choose_kind  # noqa: E402
from markdown_block import replace_block  # noqa: E402  (beside this script)

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
RUN_LOG = ROOT / "docs" / "results" / "accuracy_runs.jsonl"


def tfidf_features(data):
    """TF-IDF of word 1-2 grams, or character 1-3 grams for text in a script written without spaces."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if choose_kind(data.train["text"])[0] == "word":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode")
        kind = "word 1-2 grams"
    else:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        kind = "character 1-3 grams"
    train_x = vectorizer.fit_transform(data.train["text"])
    return kind, train_x, vectorizer.transform(data.validation["text"]), vectorizer.transform(data.test["text"])


def tfidf_baseline(data) -> dict:
    """TF-IDF + logistic regression; C picked by validation accuracy (macro-F1 for multi-label data), scored on
    test. Multi-label: one-vs-rest, with per-label thresholds tuned on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.time()
    kind, train_x, valid_x, test_x = tfidf_features(data)
    multi = data.problem_type == "multi"
    if multi:
        train_y, valid_y, test_y = (multi_hot(split["label"], len(data.label_names))
                                    for split in (data.train, data.validation, data.test))
    else:
        train_y, valid_y, test_y = (np.asarray(split["label"]) for split in (data.train, data.validation, data.test))
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000)
        if multi:
            model = OneVsRestClassifier(model, n_jobs=1).fit(train_x, train_y)
            thresholds, _ = tune_thresholds(valid_y, model.predict_proba(valid_x))
            score = multi_label_metrics(valid_y, predict(model.predict_proba(valid_x), thresholds),
                                        data.label_names)["macro_f1"]
        else:
            model.fit(train_x, train_y)
            thresholds, score = None, float((model.predict(valid_x) == valid_y).mean())
        if best is None or score > best[0]:
            best = (score, c, model, thresholds)
    score, c, model, thresholds = best
    result = {"features": kind, "valid_score": score, "C": c, "seconds": time.time() - started}
    if multi:
        metrics = multi_label_metrics(test_y, predict(model.predict_proba(test_x), thresholds), data.label_names)
        return {**result, "macro_f1": metrics["macro_f1"], "micro_f1": metrics["micro_f1"],
                "accuracy": metrics["subset_accuracy"]}
    return {**result, "accuracy": float((model.predict(test_x) == test_y).mean())}


def split_files(folder: Path) -> dict[str, Path]:
    """A data set folder's files by split name (train.parquet -> train)."""
    return {path.name.split(".")[0]: path for path in sorted(folder.iterdir()) if path.is_file()}


def data_flags(root: Path, name: str) -> list[str]:
    """textrnn's data flags for NAME or NAME:LABEL_COLUMN: the folder, or with no test split, train and its
    validation file as the test."""
    folder, _, label_column = name.partition(":")
    files = split_files(root / folder)
    label = ["--label-column", label_column] if label_column else []
    if "test" in files or "validation" not in files:
        return ["--dataset", str(root / folder), *label]
    return ["--train-file", str(files["train"]), "--test-file", str(files["validation"]), *label]


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
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "micro_f1": report.get("micro_f1"),
            "seconds": time.time() - started, "command": "textrnn " + shlex.join(argv),
            "preset": trained.get("preset"), "tokenizer": trained.get("tokenizer"), "device": trained.get("device")}


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def write_results(rows: list[dict], path: Path, command: str) -> None:
    single = [row for row in rows if "macro_f1" not in row["baseline"]]
    multi = [row for row in rows if "macro_f1" in row["baseline"]]
    lines = [f"Produced by `{command}` on {date.today().isoformat()}, device: {device_name()}, "
             f"PyTorch {torch.__version__}.", "",
             "| data (test split) | seeds | textrnn accuracy % (mean ± sd) | per seed | textrnn time per run | "
             "TF-IDF + LR accuracy % | preset, tokenizer |",
             "|---|---|---|---|---|---|---|"]
    for row in single:
        accuracies = [run["accuracy"] for run in row["runs"]]
        lines.append(f"| {row['dataset']} ({row['test_split']}) | {len(accuracies)} | **{mean_sd(accuracies)}** | "
                     f"{', '.join(f'{100 * a:.2f}' for a in accuracies)} | {minutes(row)} | "
                     f"{100 * row['baseline']['accuracy']:.2f} (C={row['baseline']['C']}, "
                     f"{row['baseline'].get('features', 'word 1-2 grams')}) | {describe_settings(row)} |")
    if multi:
        lines += ["", "| multi-label data (test split) | seeds | textrnn macro-F1 % (mean ± sd) | per seed | "
                  "textrnn micro-F1 % | textrnn time per run | TF-IDF + LR one-vs-rest macro-F1 % | micro-F1 % | "
                  "preset, tokenizer |", "|---|---|---|---|---|---|---|---|---|"]
    for row in multi:
        macro = [run["macro_f1"] for run in row["runs"]]
        micro = [run["micro_f1"] for run in row["runs"]]
        lines.append(f"| {row['dataset']} ({row['test_split']}) | {len(macro)} | **{mean_sd(macro)}** | "
                     f"{', '.join(f'{100 * a:.2f}' for a in macro)} | {mean_sd(micro)} | {minutes(row)} | "
                     f"{100 * row['baseline']['macro_f1']:.2f} (C={row['baseline']['C']}) | "
                     f"{100 * row['baseline']['micro_f1']:.2f} | {describe_settings(row)} |")
    lines += ["", "Commands, one per data set (the seed varies):", ""]
    lines += [f"- `{row['runs'][0]['command']}`" for row in rows]
    replace_block(path, "benchmark_accuracy", "\n".join(lines), "Results")


def minutes(row: dict) -> str:
    return f"{statistics.mean(run['seconds'] for run in row['runs']) / 60:.1f} min"


def describe_settings(row: dict) -> str:
    run = row["runs"][0]
    return f"{run['preset']}, {run.get('tokenizer') or 'word'}"


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
            test_split = "test" if "--dataset" in data_flags(root, name) else "validation"
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
        flags = data_flags(root, name)
        test_split = "test" if "--dataset" in flags else "validation"
        files = dict(zip(flags[::2], flags[1::2]))
        data = prepare_data(load_splits(files.get("--dataset"), files.get("--train-file"),
                                        test_file=files.get("--test-file")), label_column=files.get("--label-column"),
                            seed=TrainConfig.seed)
        if args.quick:
            data = prepare_data(load_splits(str(quick_copy(data, Path(args.runs) / "quick-data" / name))))
            flags = ["--dataset", str(Path(args.runs) / "quick-data" / name)]
        baseline = tfidf_baseline(data)
        print(f"{name}: TF-IDF + LR accuracy {baseline['accuracy']:.2%}, macro-F1 {baseline.get('macro_f1', 0):.2%} "
              f"(C={baseline['C']}, {baseline['seconds']:.0f}s)")
        runs = []
        for seed in seeds:
            run = run_textrnn(flags, seed, Path(args.runs) / f"{name.replace(':', '-')}-seed{seed}", extra)
            print(f"{name} seed {seed}: textrnn accuracy {run['accuracy']:.2%}, macro-F1 {run['macro_f1']:.2%} in "
                  f"{run['seconds'] / 60:.1f} min")
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
