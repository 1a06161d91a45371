"""Seed ensembles: does the mean of several seeds' models pay for its time? One of issue 22's levers.

    .venv/bin/python scripts/lever_ensembles.py                       # every set benchmark_accuracy.py ran
    .venv/bin/python scripts/lever_ensembles.py --datasets sst2 ag_news_small@2000.0

It reads the models `scripts/benchmark_accuracy.py` saved (runs/benchmark/NAME-seedS), so it trains nothing.
For each data set, each seed's model gives its probabilities on the validation and test splits that the
benchmark's runs read (the same data flags, and each seed's own held-out split where the set has no
validation split of its own); the ensemble is the mean of those probabilities.
Multi-label data: the ensemble's thresholds are tuned on validation, as training tunes a model's. The table
puts the ensemble's validation and test scores beside the seeds' mean, and what it costs: a model per seed,
so as many times the training time and the prediction time. Choose by the validation column.
"""

import argparse
import shlex
import statistics
import sys
from pathlib import Path


from textrnn.data import quiet_datasets
from textrnn.inference import load

from benchmark_accuracy import RUN_LOG, ROOT, data_from_flags, dataset_flags, safe_name
from common import produced_by, read_jsonl, replace_block


def seed_models(runs: Path, name: str) -> dict[int, Path]:
    """The benchmark's saved models of one data set, by seed."""
    prefix = f"{safe_name(name)}-seed"
    folders = {int(path.name[len(prefix):]): path for path in runs.glob(prefix + "*")
               if path.name[len(prefix):].isdigit() and (path / "model.safetensors").is_file()}
    return dict(sorted(folders.items()))


def metric_of(report: dict) -> str:
    """The benchmark's metric: accuracy, or macro-F1 for multi-label data (whose reports have micro-F1)."""
    return "accuracy" if report.get("micro_f1") is None else "macro_f1"


def ensemble_scores(models: dict[int, Path], flags: list[str]) -> dict:
    """Each seed's validation and test score and the ensemble's: {"metric", "seeds": [(valid, test)],
    "ensemble": (valid, test)}. Each seed is scored on the validation split its run held out; where that split
    is a share of train drawn by the seed, the seeds' splits differ, each overlapping the others' training
    texts, so the ensemble has no validation score (None)."""
    seeds, valid_sum, test_sum, task = [], 0.0, 0.0, None
    for seed, folder in models.items():
        data = data_from_flags(flags, seed)
        classifier = load(folder, engine="torch")
        if list(classifier.labels) != list(data.label_names):
            raise SystemExit(f"{folder}: labels {classifier.labels} are not the data's {data.label_names}")
        valid_probs, test_probs = (classifier.predict_proba(list(split["text"])) for split in (data.validation, data.test))
        reports = [classifier.task.compute_report(split["label"], probs)
                   for split, probs in ((data.validation, valid_probs), (data.test, test_probs))]
        metric = metric_of(reports[0])
        seeds.append((reports[0][metric], reports[1][metric]))
        valid_sum, test_sum, task = valid_sum + valid_probs, test_sum + test_probs, task or classifier.task
    valid_probs, test_probs = valid_sum / len(models), test_sum / len(models)
    if data.held_out:  # no common validation split: multi-label thresholds stay the first seed's
        return {"metric": metric, "seeds": seeds,
                "ensemble": (None, task.compute_report(data.test["label"], test_probs)[metric])}
    task.tune_decision(lambda: valid_probs, data.validation["label"])
    ensemble = tuple(task.compute_report(split["label"], probs)[metric]
                     for split, probs in ((data.validation, valid_probs), (data.test, test_probs)))
    return {"metric": metric, "seeds": seeds, "ensemble": ensemble}


def percent(value: float | None) -> str:
    return "— (each seed held out its own)" if value is None else f"{100 * value:.2f}"


def table(results: dict[str, dict], command: str) -> str:
    lines = [f"{produced_by(command)}: the benchmark's seed models of each set, their probabilities averaged.", "",
             "| data | metric | models | validation: seeds' mean | validation: ensemble | test: seeds' mean | "
             "test: ensemble | test gain | cost |", "|---|---|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        valid, test = zip(*result["seeds"])
        count = len(result["seeds"])
        lines.append(f"| {name} | {result['metric']} | {count} | {100 * statistics.mean(valid):.2f} | "
                     f"{percent(result['ensemble'][0])} | {100 * statistics.mean(test):.2f} | "
                     f"{100 * result['ensemble'][1]:.2f} | {100 * (result['ensemble'][1] - statistics.mean(test)):+.2f} | "
                     f"{count}x training and prediction |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", help="data-set names as the benchmark logs them (default: every set "
                                                      "in its run log with two or more seed models)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "benchmark"), help="where the benchmark's models are")
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS.md"))
    args = parser.parse_args(argv)
    quiet_datasets()
    root, runs = Path(args.data_root), Path(args.runs)
    names = args.datasets or list(dict.fromkeys(run["dataset"] for run in read_jsonl(RUN_LOG)))
    results = {}
    for name in names:
        models = seed_models(runs, name)
        if len(models) < 2:
            if args.datasets:
                raise SystemExit(f"{name}: {len(models)} seed model(s) in {runs}; an ensemble needs two or more")
            continue
        results[name] = ensemble_scores(models, dataset_flags(root, name, runs / "cuts", write_cut=False))
        result = results[name]
        print(f"{name}: seeds {[f'{100 * t:.2f}' for _, t in result['seeds']]} test, ensemble "
              f"{100 * result['ensemble'][1]:.2f} (validation {percent(result['ensemble'][0])})", flush=True)
    if not results:
        raise SystemExit(f"no data set has two or more seed models in {runs}: run scripts/benchmark_accuracy.py first")
    given = sys.argv[1:] if argv is None else argv
    command = "python scripts/lever_ensembles.py" + (" " + shlex.join(given) if given else "")
    replace_block(Path(args.results), "lever_ensembles", table(results, command), "Results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
