"""Many `textrnn train` runs side by side, one process each, within a time budget: a sweep on one GPU.

    python scripts/run_experiments.py --plan imdb-bag --budget 520 --output runs/sweep            # on a GPU machine
    python scripts/run_experiments.py --plan smoke --budget 300 --output runs/smoke --device cpu  # a check here

Every run is `textrnn train` with the data flags of scripts/benchmark_accuracy.py (a set without a test split
holds out 10% of train for validation and is scored on its own validation split), the plan's flags and a seed.
When the budget is nearly spent every run still going gets SIGINT, textrnn's Ctrl-C: it stops after the step
in hand and evaluates its best epoch so far, which the results then say (epochs run, interrupted). Choices are
made on the validation column; the test column is only reported.

Results: OUTPUT/results.jsonl, one line per run (flags, seed, best validation metric and epoch, test accuracy,
macro-F1, pre-training perplexity, minutes, device), and each run's log in OUTPUT/NAME/train.log.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import data_flags, read_jsonl

ROOT = Path(__file__).resolve().parent.parent

# (data set, flags, seeds): IMDB candidates (the n-gram bag; pre-training on the unlabelled split)
PLANS = {
    "imdb-bag": [
        ("imdb", [], [0]),
        ("imdb", ["--ngrams", "2"], [0, 1, 2]),
        ("imdb", ["--ngrams", "2", "--pretrain-epochs", "1"], [0, 1]),
    ],
    # after the bag learnt to drop the words that word dropout drops: the bag again, and the default's other seeds
    "imdb-bag-seeds": [
        ("imdb", [], [1, 2]),
        ("imdb", ["--ngrams", "2"], [0, 1, 2]),
    ],
    "smoke": [
        ("ag_news_small", ["--ngrams", "2", "--epochs", "1", "--max-length", "64"], [0]),
        ("ag_news_small", ["--pretrain-epochs", "1", "--epochs", "1", "--max-length", "64"], [0]),
    ],
}
STOP_BEFORE_END = 45  # seconds left when the runs get SIGINT: enough to evaluate the best epoch and write the report


def run_name(dataset: str, flags: list[str], seed: int) -> str:
    settings = "-".join(flag.lstrip("-") for flag in flags) or "default"
    return f"{dataset.replace(':', '-')}--{settings}--seed{seed}"


def start(data_root: Path, output: Path, dataset: str, flags: list[str], seed: int, device: str):
    directory = output / run_name(dataset, flags, seed)
    directory.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "textrnn", "train", *data_flags(data_root, dataset), *flags, "--seed", str(seed),
            "--device", device, "--output", str(directory / "model"), "--force", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    log = open(directory / "train.log", "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return {"dataset": dataset, "flags": flags, "seed": seed, "directory": directory, "process": process,
            "command": " ".join(argv[2:]), "started": time.time()}


def read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def result(run: dict) -> dict:
    model = run["directory"] / "model"
    history = read_jsonl(model / "metrics.jsonl")
    trained = read_json(model / "train_config.json") or {}
    metric = trained.get("metric", "accuracy")
    key = "valid_macro_f1" if metric == "macro_f1" else "valid_accuracy"
    best = max(history, key=lambda row: row[key]) if history else None
    report = read_json(model / "eval_report.json") or {}
    pretraining = read_json(model / "pretrain_metrics.json") or []
    return {"dataset": run["dataset"], "flags": " ".join(run["flags"]), "seed": run["seed"],
            "exit_code": run["process"].returncode, "epochs_run": len(history),
            "metric": metric, "best_valid": best[key] if best else None, "best_epoch": best["epoch"] if best else None,
            "test_accuracy": report.get("accuracy"), "test_macro_f1": report.get("macro_f1"),
            "test_micro_f1": report.get("micro_f1"),
            "pretrain_valid_perplexity": [round(row["valid_perplexity"], 1) for row in pretraining],
            "minutes": round((run["ended"] - run["started"]) / 60, 2), "preset": trained.get("preset"),
            "device": trained.get("device"), "command": run["command"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", choices=PLANS, required=True)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "runs" / "experiments"))
    parser.add_argument("--budget", type=float, default=520, help="seconds for the whole sweep")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    began, output = time.time(), Path(args.output)
    runs = [start(Path(args.data_root), output, dataset, flags, seed, args.device)
            for dataset, flags, seeds in PLANS[args.plan] for seed in seeds]
    print(f"{len(runs)} runs started", flush=True)
    stopped = False
    while any(run["process"].poll() is None for run in runs):
        if not stopped and time.time() - began > args.budget - STOP_BEFORE_END:
            stopped = True
            for run in runs:
                if run["process"].poll() is None:
                    run["process"].send_signal(signal.SIGINT)
            print(f"{time.time() - began:.0f}s: SIGINT to the runs still going", flush=True)
        if time.time() - began > args.budget:
            for run in runs:
                if run["process"].poll() is None:
                    run["process"].kill()
        for run in runs:
            if run["process"].poll() is not None and "ended" not in run:
                run["ended"] = time.time()
                print(f"{run['ended'] - began:5.0f}s done ({run['process'].returncode}): {run['directory'].name}",
                      flush=True)
        time.sleep(2)
    for run in runs:
        run.setdefault("ended", time.time())
    with open(output / "results.jsonl", "w") as handle:
        for run in runs:
            handle.write(json.dumps(result(run)) + "\n")
    print((output / "results.jsonl").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
