"""Accuracy: textrnn against two baselines, TF-IDF + logistic regression and fastText with word bigrams, on every
data set, several seeds.

    .venv/bin/python scripts/benchmark_accuracy.py                        # every set in ../shared/data, seeds 0-2
    .venv/bin/python scripts/benchmark_accuracy.py --datasets sst2 --seeds 0
    .venv/bin/python scripts/benchmark_accuracy.py --datasets online_shopping_zh:category  # NAME:LABEL_COLUMN
    .venv/bin/python scripts/benchmark_accuracy.py --cuts [--draws 2]     # small-data cuts, NAME[:LABEL]@SIZE.DRAW
    .venv/bin/python scripts/benchmark_accuracy.py --all --jobs 2 --resume  # every set and every cut: the table
    .venv/bin/python scripts/benchmark_accuracy.py --quick                # 2,000 texts a set, 1 seed: a smoke test
    .venv/bin/python scripts/benchmark_accuracy.py --from-log             # the table again from the logs
    .venv/bin/python scripts/benchmark_accuracy.py --from-log --since 2026-12-01  # ... runs from that date on
    .venv/bin/python scripts/benchmark_accuracy.py --baselines-only --datasets sst2 [--baselines fasttext]

`--all --jobs 2` is the whole table in one run: every set and cut, 3 seeds, 2 trainings at once on one thread
each (about 2.5 hours on a 2-core CPU). Each training is its own process, its output in runs/benchmark/RUN.log;
each run and baseline is logged as it ends, with the version of textrnn it ran (code_version()), and
`--resume` goes on from where an interrupted run stopped. The table's means take runs of one version only.

For each data set and seed, `textrnn train` runs with its defaults (which pick the preset for the
texts' length) on the data set's own splits. A set without a test split (SST-2 ships train and GLUE's
validation only) is scored on its validation split, which then takes no part in training: both sides
hold out 10% of train for early stopping and tuning instead, so no number is chosen on the split it
reports. Both baselines train on exactly the texts textrnn trains on, are tuned on the validation split only
and are scored on the same test split:

- TF-IDF: scikit-learn TfidfVectorizer over word 1-2 grams + LogisticRegression, C chosen on the validation
  split; character 1-3 grams for text in a script written without spaces.
- fastText (`pip install -e .[bench]`: fasttext-wheel 0.9.2) with wordNgrams=2, fixed. fastText splits on
  whitespace only, so texts are tokenized simply first: lowercased, punctuation split off the words, newlines
  made spaces; in a script written without spaces (Chinese) every character is a token, so its bigrams are
  character bigrams. Labels go in as `__label__N`. Single-label sets: fastText's autotune chooses lr, epoch,
  dim, subwords (minn/maxn) and dsub by validation accuracy within --fasttext-autotune seconds (default 120;
  a cut --fasttext-autotune-cut, default 60; bucket fixed at 2M, see FASTTEXT_BUCKET), then retrains on train.
  The tuned settings are printed and recorded. fastText with --fasttext-threads above 1 (default 2) is not
  deterministic even with --fasttext-seed; both are recorded. Each fit runs in a child process
  (scripts/fasttext_baseline.py), stopped and started once more past --fasttext-timeout: autotune can overrun
  its own budget by hours.

Multi-label sets (goemotions) are scored by macro- and micro-F1: the TF-IDF baseline is one-vs-rest logistic
regressions, fastText one-vs-all loss (`ova`) with its lr, epoch and dim from a small grid, each with per-label
thresholds tuned on the validation split as textrnn tunes its own. Results go between the benchmark markers of
docs/RESULTS.md, one row per data set: accuracy (multi-label: macro-F1) mean ± standard deviation over the seeds,
time, device, and each baseline's latest numbers.
Every run's summary is appended to docs/results/accuracy_runs.jsonl, every baseline result (with its date,
command and settings) to docs/results/baselines.jsonl, where --baselines-only puts them without training
textrnn; the table takes each set's latest baselines from there, else from the run log (whose rows before
fastText have TF-IDF only: fastText shows "—").
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from fnmatch import fnmatch
from pathlib import Path

import torch

from textrnn.training.config import TrainConfig
from textrnn.data import load_splits, prepare_data, quiet_datasets
from textrnn.tokenizer import choose_kind

from common import data_flags, label_ids, multi_label_scores, produced_by, read_jsonl, replace_block, split_files, \
    today, tuned_macro_f1
from fasttext_baseline import fasttext_baseline

ROOT = Path(__file__).resolve().parent.parent
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
RUN_LOG = ROOT / "docs" / "results" / "accuracy_runs.jsonl"
BASELINE_LOG = ROOT / "docs" / "results" / "baselines.jsonl"
BASELINES = ("tfidf", "fasttext")
# The small-data conditions --cuts runs: (NAME[:LABEL_COLUMN], training sizes). A size not below the set's train
# split is skipped (ag_news_small's train has 6,000 texts); each size is run for draws 0..--draws - 1.
CUTS = (("online_shopping_zh", (2000, 5000, 10000)), ("online_shopping_zh:category", (2000, 5000, 10000)),
        ("ag_news_small", (2000, 5000, 10000)), ("sst2", (5000,)))
CUT_SUFFIX = re.compile(r"(?P<set>[^@]+)(?:@(?P<size>\d+)(?:\.(?P<draw>\d+))?)?")
CUT_SPLITS = ("train", "validation", "test")


def written_with_spaces(texts) -> bool:
    """Whether the texts' script separates words by spaces (the choice `textrnn train --tokenizer auto` makes);
    both baselines then take words, else characters."""
    return choose_kind(texts)[0] == "word"


def label_targets(data) -> tuple:
    """Train, validation and test labels: class ids, or multi-hot rows for multi-label data."""
    return tuple(data.task.label_array(split["label"]) for split in (data.train, data.validation, data.test))


def tfidf_features(data):
    """TF-IDF of word 1-2 grams, or character 1-3 grams for text in a script written without spaces."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if written_with_spaces(data.train["text"]):
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
    train_y, valid_y, test_y = label_targets(data)
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000)
        if multi:
            model = OneVsRestClassifier(model, n_jobs=1).fit(train_x, train_y)
            score, thresholds = tuned_macro_f1(valid_y, model.predict_proba(valid_x), data.label_names)
        else:
            model.fit(train_x, train_y)
            thresholds, score = None, float((model.predict(valid_x) == valid_y).mean())
        if best is None or score > best[0]:
            best = (score, c, model, thresholds)
    score, c, model, thresholds = best
    result = {"features": kind, "valid_score": score, "C": c, "seconds": time.time() - started}
    if multi:
        return {**result, **multi_label_scores(test_y, model.predict_proba(test_x), thresholds, data.label_names)}
    return {**result, "accuracy": float((model.predict(test_x) == test_y).mean())}


def parse_cut(name: str) -> tuple[str, int | None, int]:
    """(NAME[:LABEL_COLUMN], SIZE, DRAW) of a data-set name NAME[:LABEL_COLUMN][@SIZE[.DRAW]]; SIZE None for a full
    set, DRAW 0 unless given. `online_shopping_zh:category@5000.1` -> ("online_shopping_zh:category", 5000, 1)."""
    match = CUT_SUFFIX.fullmatch(name)
    if not match or (match["size"] is not None and int(match["size"]) < 1):
        raise SystemExit(f"data set {name!r}: expected NAME[:LABEL_COLUMN][@SIZE[.DRAW]], SIZE and DRAW whole "
                         "numbers, SIZE at least 1 (e.g. ag_news_small@2000, online_shopping_zh:category@5000.1)")
    if match["size"] is None:
        return match["set"], None, 0
    return match["set"], int(match["size"]), int(match["draw"] or 0)


def cut_name(name: str) -> str:
    """The name the logs and the table give a data set: a cut's always with its draw (`sst2@5000` ->
    `sst2@5000.0`), so a cut asked for either way is one row; a full set's as given."""
    full, size, draw = parse_cut(name)
    return name if size is None else f"{full}@{size}.{draw}"


def safe_name(name: str) -> str:
    """A data-set name as a folder name: `:` and `@` made `-` (`online_shopping_zh:category@5000.1` ->
    `online_shopping_zh-category-5000.1`); a full set's name as the run folders have always had it."""
    return re.sub(r"[:@]", "-", name)


def train_sizes(root: Path, names) -> dict[str, int]:
    """Each named set's (NAME or NAME:LABEL_COLUMN) train-split size, from its train file's parquet metadata."""
    import pyarrow.parquet as pq

    folders = {name.partition(":")[0] for name in names}
    return {folder: pq.ParquetFile(split_files(root / folder)["train"]).metadata.num_rows for folder in folders}


def cut_names(sizes: dict[str, int], draws: int, cuts=CUTS) -> list[str]:
    """--cuts as data-set names, set by set, size by size, draws 0..draws - 1: `ag_news_small@2000.0`, ...; a size
    at or above the set's train size (`sizes`, by folder name) is skipped."""
    return [f"{name}@{size}.{draw}" for name, cut_sizes in cuts for size in cut_sizes
            if size < sizes[name.partition(":")[0]] for draw in range(draws)]


def make_cut(root: Path, name: str, cuts_folder: Path) -> Path:
    """The cut NAME[:LABEL_COLUMN]@SIZE.DRAW as parquet files in cuts_folder/safe_name(name)/: SIZE texts of the
    set's train split (datasets' shuffle(seed=DRAW), then the first SIZE), its validation and test splits whole,
    as the set has them (SST-2: train and validation). Written again each time: the same name, the same texts."""
    full, size, draw = parse_cut(name)
    source = root / full.partition(":")[0]
    if not source.is_dir():
        raise SystemExit(f"data set {name!r}: no folder {source}")
    files = {split: path for split, path in split_files(source).items() if split in CUT_SPLITS}
    if "train" not in files:
        raise SystemExit(f"data set {name!r}: {source} has no train split to cut")
    raw = load_splits(**{f"{split}_file": path for split, path in files.items()})
    if size >= len(raw["train"]):
        raise SystemExit(f"data set {name!r}: the cut's size {size:,} is not below the train split's "
                         f"{len(raw['train']):,} texts of {full.partition(':')[0]}; use the full set or a smaller size")
    folder = cuts_folder / safe_name(cut_name(name))
    folder.mkdir(parents=True, exist_ok=True)
    for split in CUT_SPLITS:
        (folder / f"{split}.parquet").unlink(missing_ok=True)
    raw["train"].shuffle(seed=draw).select(range(size)).to_parquet(str(folder / "train.parquet"))
    for split in ("validation", "test"):
        if split in raw:
            raw[split].to_parquet(str(folder / f"{split}.parquet"))
    return folder


def cut_flags(folder: Path, label_column: str = "") -> list[str]:
    """textrnn's data flags for a cut's files, as data_flags gives them for the full set: train, validation and
    test files; with no test split (SST-2), train and the validation file as the test."""
    files = split_files(folder)
    flags = ["--train-file", str(files["train"])]
    if "test" in files:
        flags += ["--validation-file", str(files["validation"])] if "validation" in files else []
        flags += ["--test-file", str(files["test"])]
    elif "validation" in files:
        flags += ["--test-file", str(files["validation"])]
    return flags + (["--label-column", label_column] if label_column else [])


def quick_copy(data, folder: Path) -> Path:
    """2,000 training, 500 validation and 1,000 test texts of `data` as parquet files: a smoke test's data. The
    validation and test texts are drawn from those whose labels the small train split holds: 2,000 GoEmotions
    texts can miss a rare emotion, and textrnn refuses a label it has no training text of."""
    folder.mkdir(parents=True, exist_ok=True)
    train = data.train.shuffle(seed=0).select(range(min(2000, len(data.train))))
    train.to_parquet(str(folder / "train.parquet"))
    seen = {label for row in train["label"] for label in label_ids(row)}
    for name, split, size in (("validation", data.validation, 500), ("test", data.test, 1000)):
        split = split.shuffle(seed=0).filter(lambda row: set(label_ids(row["label"])) <= seen)
        split.select(range(min(size, len(split)))).to_parquet(str(folder / f"{name}.parquet"))
    return folder


def run_textrnn(data_args: list[str], seed: int, output: Path, extra: list[str], threads: int) -> dict:
    """One `textrnn train` in its own process on `threads` threads (OMP_NUM_THREADS), its output in
    OUTPUT.log beside the model folder; its test scores, time and settings."""
    argv = ["train", *data_args, "--output", str(output), "--seed", str(seed), "--force", "--no-progress", *extra]
    log = output.with_name(output.name + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(log, "w") as handle:
        finished = subprocess.run([sys.executable, "-m", "textrnn", *argv], stdout=handle, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if finished.returncode != 0:
        raise RuntimeError(f"textrnn {shlex.join(argv)} exited with {finished.returncode}; its output is in {log}")
    report = json.loads((output / "eval_report.json").read_text())
    trained = json.loads((output / "train_config.json").read_text())
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "micro_f1": report.get("micro_f1"),
            "seconds": time.time() - started, "command": "textrnn " + shlex.join(argv),
            "preset": trained.get("preset"), "tokenizer": trained.get("tokenizer"), "threads": threads}


def code_version() -> str | None:
    """The git tree hash of textrnn/ at HEAD (12 digits), with "+changes" when the working tree's textrnn/ differs
    from it; None outside a git checkout. Runs are logged with it, so that --resume and --code only ever put runs
    of one version of the package into one mean."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout

    try:
        tree, changes = git("rev-parse", "HEAD:textrnn").strip(), git("status", "--porcelain", "--", "textrnn")
    except (OSError, subprocess.CalledProcessError):
        return None
    return tree[:12] + ("+changes" if changes.strip() else "")


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}"


def device_name(threads: int, jobs: int) -> str:
    """What each textrnn run of a benchmark ran on: the GPU, or the CPU's threads a run and the runs at once."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({threads} thread{'s' * (threads > 1)} a run, {jobs} run{'s' * (jobs > 1)} at once)"


def describe_devices(rows: list[dict]) -> str:
    """The devices the table's runs logged, e.g. "CPU (1 thread a run, 2 runs at once)"; old runs logged the
    thread count of the process that wrote the table."""
    devices = sorted({run.get("device", "unknown") for row in rows for run in row["runs"]})
    return "; ".join(devices) or "no textrnn runs"


def percent(result: dict | None, key: str, note: str = "") -> str:
    """A baseline's number as a table cell, "—" where the logs hold none (rows from before fastText was added)."""
    if not result or result.get(key) is None:
        return "—"
    return f"{100 * result[key]:.2f}" + (f" ({note})" if note else "")


def describe_tfidf(result: dict | None, features: bool = True) -> str:
    if not result:
        return ""
    return f"C={result['C']}" + (f", {result.get('features', 'word 1-2 grams')}" if features else "")


def describe_fasttext(result: dict | None) -> str:
    """fastText's tuned settings, short: what autotune (or the multi-label grid) chose."""
    if not result:
        return ""
    settings = result["settings"]
    subwords = f", minn {settings['minn']}-{settings['maxn']}" if settings["maxn"] else ""
    return (f"lr {settings['lr']:g}, epoch {settings['epoch']}, dim {settings['dim']}, "
            f"wordNgrams {settings['wordNgrams']}{subwords}")


def textrnn_cells(row: dict, metric: str) -> str:
    """The seeds, mean ± sd and per-seed cells of textrnn's `metric`; dashes for a set with baselines only."""
    values = [run[metric] for run in row["runs"]]
    if not values:
        return "0 | — | —"
    return f"{len(values)} | **{mean_sd(values)}** | {', '.join(f'{100 * v:.2f}' for v in values)}"


def write_results(rows: list[dict], path: Path, command: str) -> None:
    multi = [row for row in rows if is_multi_label(row)]
    single = [row for row in rows if not is_multi_label(row)]
    lines = [f"{produced_by(command)}, textrnn on {describe_devices(rows)}, PyTorch {torch.__version__}.", "",
             "| data (test split) | seeds | textrnn accuracy % (mean ± sd) | per seed | textrnn time per run | "
             "TF-IDF + LR accuracy % | fastText bigrams accuracy % (tuned settings) | preset, tokenizer |",
             "|---|---|---|---|---|---|---|---|"]
    for row in single:
        lines.append(f"| {row['dataset']} ({row['test_split']}) | {textrnn_cells(row, 'accuracy')} | {minutes(row)} | "
                     f"{percent(row['tfidf'], 'accuracy', describe_tfidf(row['tfidf']))} | "
                     f"{percent(row['fasttext'], 'accuracy', describe_fasttext(row['fasttext']))} | "
                     f"{describe_settings(row)} |")
    if multi:
        lines += ["", "| multi-label data (test split) | seeds | textrnn macro-F1 % (mean ± sd) | per seed | "
                  "textrnn micro-F1 % | textrnn time per run | TF-IDF + LR one-vs-rest macro-F1 % | micro-F1 % | "
                  "fastText bigrams one-vs-all macro-F1 % (tuned settings) | micro-F1 % | preset, tokenizer |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in multi:
        micro = mean_sd([run["micro_f1"] for run in row["runs"]]) if row["runs"] else "—"
        lines.append(f"| {row['dataset']} ({row['test_split']}) | {textrnn_cells(row, 'macro_f1')} | {micro} | "
                     f"{minutes(row)} | {percent(row['tfidf'], 'macro_f1', describe_tfidf(row['tfidf'], False))} | "
                     f"{percent(row['tfidf'], 'micro_f1')} | "
                     f"{percent(row['fasttext'], 'macro_f1', describe_fasttext(row['fasttext']))} | "
                     f"{percent(row['fasttext'], 'micro_f1')} | {describe_settings(row)} |")
    lines += ["", "Commands, one per data set (the seed varies):", ""]
    lines += [f"- `{row['runs'][0]['command']}`" for row in single + multi if row["runs"]]
    lines += ["", "Baselines, each set's latest (docs/results/baselines.jsonl, else the run log):", ""]
    lines += [f"- {row['dataset']}: {describe_provenance(row)}" for row in single + multi]
    replace_block(path, "benchmark_accuracy", "\n".join(lines), "Results")


def is_multi_label(row: dict) -> bool:
    return any("macro_f1" in (row[method] or {}) for method in BASELINES) or any(
        run.get("micro_f1") is not None for run in row["runs"])


def describe_provenance(row: dict) -> str:
    parts = []
    for method, name in (("tfidf", "TF-IDF"), ("fasttext", "fastText")):
        result = row[method]
        if not result:
            parts.append(f"{name} —")
            continue
        when = f"{name} {result.get('date') or row['runs'][-1]['date']}"
        if method == "fasttext":
            when += f" ({result['tuning']}, thread={result['thread']}, seed {result['seed']}, {result['seconds']:.0f} s)"
        parts.append(when + (f", `{result['command']}`" if "command" in result else ""))
    return "; ".join(parts)


def minutes(row: dict) -> str:
    if not row["runs"]:
        return "—"
    return f"{statistics.mean(run['seconds'] for run in row['runs']) / 60:.1f} min"


def describe_settings(row: dict) -> str:
    if not row["runs"]:
        return "—"
    run = row["runs"][0]
    return f"{run['preset']}, {run.get('tokenizer') or 'word'}"


def latest_baselines() -> dict[tuple[str, str], dict]:
    """Each (data set, method)'s latest result in the baseline log."""
    return {(row["dataset"], row["method"]): row for row in read_jsonl(BASELINE_LOG)}


def table_row(name: str, root: Path, runs: list[dict], baselines: dict) -> dict:
    """A data set's row as write_results takes it: textrnn's runs and the latest result of each baseline, from
    the baseline log or else the last run's record (old run-log rows have TF-IDF only)."""
    test_split = "test" if "--dataset" in data_flags(root, parse_cut(name)[0]) else "validation"
    last = runs[-1] if runs else {}
    return {"dataset": name, "test_split": test_split, "runs": runs,
            "tfidf": baselines.get((name, "tfidf")) or last.get("baseline"),
            "fasttext": baselines.get((name, "fasttext")) or last.get("fasttext")}


def counted_runs(code: str | None, same_as=(), changed=()):
    """Which logged runs count as this code's (a predicate on a run-log row): its own, and those of the --same-as
    versions except on the sets that --changed names (fnmatch patterns), whose models the change altered."""
    def counts(run: dict) -> bool:
        if run.get("code") == code:
            return True
        return run.get("code") in same_as and not any(fnmatch(run["dataset"], pattern) for pattern in changed)
    return counts


def rows_from_log(names: list[str] | None, root: Path, since: str | None = None, counts=None) -> list[dict]:
    """Each data set's latest run per seed from the run log, with its latest baselines; by default every set in
    the two logs, in the order they first appear. since (YYYY-MM-DD): textrnn runs from that date on only; counts
    (counted_runs()): the runs of this version of textrnn only. Either keeps a mean from mixing runs of the code
    before a change with runs after it."""
    run_log = read_jsonl(RUN_LOG)
    latest = {(run["dataset"], run["seed"]): run for run in run_log
              if (not since or run["date"] >= since) and (not counts or counts(run))}
    baselines = latest_baselines()
    names = names or list(dict.fromkeys(row["dataset"] for row in [*run_log, *read_jsonl(BASELINE_LOG)]))
    rows = [table_row(name, root, [run for (dataset, _), run in sorted(latest.items()) if dataset == name], baselines)
            for name in names]
    return [row for row in rows if row["runs"] or row["tfidf"] or row["fasttext"]]


def dataset_flags(root: Path, name: str, cuts_folder: Path | None, write_cut: bool = True) -> list[str]:
    """textrnn's data flags for NAME[:LABEL_COLUMN][@SIZE[.DRAW]]; a cut is written to `cuts_folder` first, or
    with write_cut=False read as an earlier run wrote it."""
    full, size, _ = parse_cut(name)
    if size is None:
        return data_flags(root, name)
    if cuts_folder is None:
        raise SystemExit(f"data set {name!r} is a cut: it needs a folder to be written to")
    folder = make_cut(root, name, cuts_folder) if write_cut else cuts_folder / safe_name(cut_name(name))
    if not (folder / "train.parquet").is_file():
        raise SystemExit(f"data set {name!r}: no cut in {folder}; benchmark_accuracy.py writes it")
    return cut_flags(folder, full.partition(":")[2])


def data_from_flags(flags: list[str], seed: int = TrainConfig.seed):
    """The prepared splits textrnn reads with these data flags, split as `textrnn train --seed SEED` splits them
    (a set without a validation split holds out 10% of train, drawn by the seed)."""
    files = dict(zip(flags[::2], flags[1::2]))
    return prepare_data(load_splits(files.get("--dataset"), files.get("--train-file"), files.get("--validation-file"),
                                    files.get("--test-file")), label_column=files.get("--label-column"), seed=seed)


def quick_flags(flags: list[str], name: str, quick_folder: Path) -> list[str]:
    """--quick: a small copy of the set (quick_copy) and the flags that read it."""
    folder = quick_copy(data_from_flags(flags), quick_folder / safe_name(name))
    return ["--dataset", str(folder)]


def headline(result: dict) -> str:
    """A baseline's test score for the console: accuracy, or macro- and micro-F1 for multi-label data."""
    if "macro_f1" in result:
        return f"macro-F1 {result['macro_f1']:.2%}, micro-F1 {result['micro_f1']:.2%}"
    return f"accuracy {result['accuracy']:.2%}"


def autotune_seconds(name: str, args) -> int:
    """fastText's autotuneDuration for a set: 10 s for --quick, --fasttext-autotune-cut for a cut (small, so quick
    to tune), --fasttext-autotune for a full set."""
    if args.quick:
        return 10
    return args.fasttext_autotune_cut if parse_cut(name)[1] is not None else args.fasttext_autotune


def run_baselines(name: str, flags: list[str], methods, args, command: str, code: str | None, threads: int) -> dict:
    """The baselines `methods` of one data set, on `threads` threads, printed and (unless --quick) appended to the
    baseline log."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return compute_baselines(name, data_from_flags(flags), methods, args, command, code, threads)


def compute_baselines(name: str, data, methods, args, command: str, code: str | None, threads: int) -> dict:
    results = {}
    if "tfidf" in methods:
        results["tfidf"] = tfidf_baseline(data)
        print(f"{name}: TF-IDF + LR {headline(results['tfidf'])} ({describe_tfidf(results['tfidf'])}, "
              f"{results['tfidf']['seconds']:.0f}s)", flush=True)
    if "fasttext" in methods:
        results["fasttext"] = fasttext_baseline(data, label_targets(data), written_with_spaces(data.train["text"]),
                                                args.fasttext_threads or threads, args.fasttext_seed,
                                                autotune_seconds(name, args), args.fasttext_timeout)
        result = results["fasttext"]
        print(f"{name}: fastText {headline(result)} (validation {result['valid_score']:.2%}); {result['tuning']}, thread={result['thread']}, seed "
              f"{result['seed']}, {result['seconds']:.0f}s; tuned settings: {result['settings']}", flush=True)
    if not args.quick:
        with open(BASELINE_LOG, "a") as handle:
            for method, result in results.items():
                handle.write(json.dumps({"dataset": name, "method": method, "date": today(), "code": code,
                                         "command": command, **result}) + "\n")
    return results


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", help="NAME[:LABEL_COLUMN][@SIZE[.DRAW]] each, @SIZE.DRAW a cut: "
                                                      "SIZE training texts, sample DRAW (default 0) of the train "
                                                      "split; default: every folder in --data-root (--from-log: every "
                                                      "set in the logs)")
    parser.add_argument("--cuts", action="store_true",
                        help="the small-data cuts of CUTS, " + "; ".join(
                            f"{name} at {', '.join(map(str, sizes))}" for name, sizes in CUTS)
                        + " training texts (a size not below the set's train split skipped), draws 0..--draws - 1, "
                          "after any --datasets")
    parser.add_argument("--all", action="store_true", help="every folder in --data-root and every cut (--cuts)")
    parser.add_argument("--draws", type=int, default=2, help="--cuts: how many draws of each cut (default 2)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1,
                        help="how many trainings and baselines run at once, each on the CPU's cores / JOBS threads "
                             "(default 1); times measured with JOBS above 1 are not timings of a quiet machine")
    parser.add_argument("--resume", action="store_true",
                        help="skip each run and baseline the logs already hold for the same textrnn code "
                             "(code_version(): the committed tree of textrnn/), so an interrupted benchmark goes on")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "benchmark"), help="where the trained models go")
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS.md"))
    parser.add_argument("--quick", action="store_true", help="2,000 training texts a set, 1 seed, 1 epoch, fastText "
                                                             "autotune 10 s; no docs, no logs")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="with --from-log: textrnn runs from this date on only")
    parser.add_argument("--code", metavar="VERSION", help="with --from-log: textrnn runs of this code_version() only "
                                                          "('current': the checkout's), and of --same-as's")
    parser.add_argument("--same-as", nargs="+", default=[], metavar="VERSION",
                        help="earlier code_version()s whose runs --resume and the table take as this code's. Give "
                             "one only where a change left the defaults training the same weights, checked on a "
                             "run of each kind (docs/RESULTS.md says how it was checked)")
    parser.add_argument("--changed", nargs="+", default=[], metavar="PATTERN",
                        help="with --same-as: the data sets (fnmatch patterns, e.g. 'ag_news_small*') whose models "
                             "the change did alter, so that only this code's runs count for them")
    parser.add_argument("--from-log", action="store_true",
                        help="rewrite the table from docs/results/accuracy_runs.jsonl (each set's latest runs) and "
                             "docs/results/baselines.jsonl (each set's latest baselines) without training")
    parser.add_argument("--baselines-only", action="store_true",
                        help="compute the baselines alone, without textrnn, append them to docs/results/"
                             "baselines.jsonl and rebuild the table from the logs")
    parser.add_argument("--baselines", nargs="+", choices=BASELINES, default=list(BASELINES),
                        help="which baselines to compute (default both)")
    parser.add_argument("--fasttext-autotune", type=int, default=120, metavar="SECONDS",
                        help="fastText's autotuneDuration per single-label full set (default 120)")
    parser.add_argument("--fasttext-autotune-cut", type=int, default=60, metavar="SECONDS",
                        help="fastText's autotuneDuration per single-label cut NAME@SIZE.DRAW (default 60)")
    parser.add_argument("--fasttext-threads", type=int, help="fastText's thread count (default: a job's threads; "
                                                             "above 1 its results vary run to run)")
    parser.add_argument("--fasttext-seed", type=int, default=0)
    parser.add_argument("--fasttext-timeout", type=float, metavar="SECONDS",
                        help="stop a fastText fit past this and start it once more (default: five times its "
                             "autotune seconds plus 300; fastText's autotune can overrun its own budget)")
    parser.add_argument("extra", nargs="*", help="more textrnn train flags, after --")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error("--draws must be 1 or more")
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    return args


def chosen_names(args, root: Path) -> list[str]:
    """The data sets a run covers, in order: --datasets (or, without --cuts, every full set: each folder of the data
    root, and the label columns CUTS names), then the cuts for --cuts; --all is every full set and every cut."""
    # a set's other label columns that CUTS names (online_shopping_zh:category) are full sets of their own
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    folders += [name for name, _ in CUTS if ":" in name and name.partition(":")[0] in folders]
    names = [cut_name(name) for name in args.datasets or []]
    if args.all or not (args.datasets or args.cuts):
        names = folders if args.all or not args.from_log else []
    if args.all or args.cuts:
        names += cut_names(train_sizes(root, [name for name, _ in CUTS]), args.draws, CUTS)
    return list(dict.fromkeys(names))


def expected_seconds(name: str, kind: str) -> float:
    """How long a task took last time, from the logs (0 when never run): the longest start first."""
    if kind == "textrnn":
        times = [run["seconds"] for run in read_jsonl(RUN_LOG) if run["dataset"] == name]
    else:
        times = [row["seconds"] for row in read_jsonl(BASELINE_LOG) if row["dataset"] == name]
    return times[-1] if times else 0.0


def plan_tasks(names: list[str], args, code: str | None) -> list[tuple]:
    """(name, "baselines", methods) and (name, "textrnn", seed) tasks, longest first; with --resume, none the logs
    already hold for this code (or a --same-as one)."""
    resumable = args.resume and code and not code.endswith("+changes")
    if args.resume and not resumable:
        print(f"--resume: textrnn/ is not a clean checkout ({code}), so nothing is skipped", flush=True)
    counts = counted_runs(code, args.same_as, args.changed)
    done_runs = {(run["dataset"], run["seed"]) for run in read_jsonl(RUN_LOG) if resumable and counts(run)}
    # the baselines do not depend on textrnn's code: a --same-as version's count for every set, --changed or not
    done_baselines = {(row["dataset"], row["method"]) for row in read_jsonl(BASELINE_LOG)
                      if resumable and row.get("code") in {code, *args.same_as}}
    seeds = args.seeds[:1] if args.quick else args.seeds
    tasks = []
    for name in names:
        methods = [method for method in args.baselines if (name, method) not in done_baselines]
        if methods:
            tasks.append((name, "baselines", methods))
        if not args.baselines_only:
            tasks += [(name, "textrnn", seed) for seed in seeds if (name, seed) not in done_runs]
    planned = len(names) * (len(args.baselines) > 0) + (0 if args.baselines_only else len(names) * len(seeds))
    if resumable:
        print(f"--resume: {planned - len(tasks)} of {planned} tasks already in the logs for textrnn code {code}",
              flush=True)
    return sorted(tasks, key=lambda task: -expected_seconds(task[0], task[1]))


def run_task(task: tuple, flags: list[str], args, command: str, code: str | None, threads: int, jobs: int) -> None:
    """One task of plan_tasks: its baselines, or one seed's textrnn run, logged (unless --quick) as it ends."""
    name, kind, what = task
    if kind == "baselines":
        run_baselines(name, flags, what, args, command, code, threads)
        return
    extra = [*args.extra, "--epochs", "1"] if args.quick else args.extra
    run = run_textrnn(flags, what, Path(args.runs) / f"{safe_name(name)}-seed{what}", extra, threads)
    print(f"{name} seed {what}: textrnn accuracy {run['accuracy']:.2%}, macro-F1 {run['macro_f1']:.2%} in "
          f"{run['seconds'] / 60:.1f} min", flush=True)
    if not args.quick:
        with open(RUN_LOG, "a") as handle:
            handle.write(json.dumps({"dataset": name, "seed": what, "date": today(), "code": code,
                                     "device": device_name(threads, jobs), "jobs": jobs, **run}) + "\n")


def run_tasks(tasks: list[tuple], flags: dict[str, list[str]], args, command: str, code: str | None) -> list[str]:
    """The tasks, --jobs at a time (a thread each, training in its own process); the failures' messages."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    jobs = min(args.jobs, max(1, len(tasks)))
    threads = max(1, cores // jobs)
    print(f"{len(tasks)} tasks, {jobs} at once, {threads} thread{'s' * (threads > 1)} each", flush=True)
    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_task, task, flags[task[0]], args, command, code, threads, jobs): task
                   for task in tasks}
        for future in as_completed(futures):
            if future.exception() is not None:
                name, kind, what = futures[future]
                failures.append(f"{name} {kind} {what}: {future.exception()}")
                print(f"failed: {failures[-1]}", flush=True)
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_datasets()
    root = Path(args.data_root)
    given = sys.argv[1:] if argv is None else argv
    command = "python scripts/benchmark_accuracy.py" + (" " + shlex.join(given) if given else "")
    names = chosen_names(args, root)
    if args.from_log:
        code = code_version() if args.code == "current" else args.code
        counts = counted_runs(code, args.same_as, args.changed) if code else None
        write_results(rows_from_log(names or None, root, args.since, counts), Path(args.results), command)
        return 0
    code = code_version()
    BASELINE_LOG.parent.mkdir(parents=True, exist_ok=True)
    # every cut is written here, before any task starts, so that no run reads a cut while it is being written
    flags = {name: dataset_flags(root, name, Path(args.runs) / "cuts") for name in names}
    if args.quick:
        flags = {name: quick_flags(flags[name], name, Path(args.runs) / "quick-data") for name in names}
    failures = run_tasks(plan_tasks(names, args, code), flags, args, command, code)
    if not args.quick:
        # the table from the logs: this run's sets, each set's latest runs of this code, so that a resumed run's
        # earlier tasks join it and no mean mixes two versions of textrnn (--baselines-only: every set, every run)
        write_results(rows_from_log(None, root) if args.baselines_only
                      else rows_from_log(names, root, counts=counted_runs(code, args.same_as, args.changed)),
                      Path(args.results), command)
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
