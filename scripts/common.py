"""Helpers shared by the scripts in this folder: no script of its own, nothing here runs on import.

- describe_machine: the CPU, threads, PyTorch and Python (and the GPU) a benchmark ran on;
- today, produced_by: the date and the "Produced by `COMMAND` on DATE" opening of a published table;
- latencies, percentiles_ms: p50 and p99 in milliseconds of repeated calls, or of measured seconds;
- publish, replace_block: a benchmark's table printed and put between its markers in a Markdown file
  (docs/BENCHMARKS.md, docs/RESULTS.md), keeping the hand-written rest;
- data_flags (and split_files): `textrnn train`'s data flags for a data set of ../shared/data;
- read_jsonl: a JSON-lines file's rows; label_ids: a row's label ids, one-label or multi-label;
- multi_label_scores, tuned_macro_f1: a multi-label baseline's test scores and its validation macro-F1, with
  per-label thresholds tuned as textrnn tunes its own.

The scripts import them as `from common import ...`. That works without touching sys.path because Python puts
the directory of the script it runs first on sys.path: `python scripts/NAME.py` finds scripts/common.py,
wherever it is started from. (textrnn itself is installed in the venv, `pip install -e .`.) Code that loads a
script some other way, as tests/test_benchmark_accuracy.py does, puts scripts/ on sys.path itself.
"""

import json
import platform
from datetime import date
from pathlib import Path
from time import perf_counter

import numpy as np

# ----------------------------------------------------------------------------- the machine, the date


def describe_machine(device) -> str:
    """'CPU model, N threads; PyTorch X, Python Y' and, on a CUDA `device` (a torch.device), the GPU's name."""
    import torch  # here, not above: run_experiments.py imports this module and needs no torch of its own

    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    described = (f"{cpu}, {torch.get_num_threads()} threads; PyTorch {torch.__version__}, "
                 f"Python {platform.python_version()}")
    return described + (f"; {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")


def today() -> str:
    """Today's date as YYYY-MM-DD, as the tables and the logs record it."""
    return date.today().isoformat()


def produced_by(command: str) -> str:
    """The opening of a published table: "Produced by `COMMAND` on YYYY-MM-DD" (the caller ends the sentence)."""
    return f"Produced by `{command}` on {today()}"


# ----------------------------------------------------------------------------- latency


def percentiles_ms(seconds) -> dict:
    """{"p50_ms", "p99_ms"} of durations measured in seconds."""
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def latencies(call, warmup: int = 50, repeats: int = 1000) -> dict:
    """p50 and p99 (ms) of `repeats` calls of `call`, timed one by one after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = perf_counter()
        call()
        times.append(perf_counter() - started)
    return percentiles_ms(times)


# ----------------------------------------------------------------------------- Markdown blocks


def publish(lines: list[str], path, name: str, write: bool, title: str = "Speed benchmarks") -> None:
    """Print a benchmark's lines and, when `write` (not a --quick run), put them in their block of `path`."""
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        replace_block(Path(path), name, text, title)


def replace_block(path: Path, name: str, block: str, title: str) -> None:
    """Put `block` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `path` (appended when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n\n{block.strip()}\n\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


# ----------------------------------------------------------------------------- data sets and logs


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


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines file, one a line; none where the file is absent."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def label_ids(label) -> list:
    """A row's label ids: the list of a multi-label row, the one id of a single-label row."""
    return list(label) if isinstance(label, (list, tuple)) else [label]


# ----------------------------------------------------------------------------- multi-label baselines' scores


def multi_label_scores(targets: np.ndarray, probs: np.ndarray, thresholds, label_names) -> dict:
    """Macro-F1, micro-F1 and subset accuracy of `probs` cut at per-label `thresholds`, as textrnn scores."""
    from textrnn.metrics import multi_label_metrics, predict

    metrics = multi_label_metrics(targets, predict(probs, thresholds), label_names)
    return {"macro_f1": metrics["macro_f1"], "micro_f1": metrics["micro_f1"], "accuracy": metrics["subset_accuracy"]}


def tuned_macro_f1(valid_y: np.ndarray, probs: np.ndarray, label_names) -> tuple[float, list[float]]:
    """(validation macro-F1, thresholds), the per-label thresholds tuned on these same validation rows."""
    from textrnn.metrics import tune_thresholds

    thresholds, _ = tune_thresholds(valid_y, probs)
    return multi_label_scores(valid_y, probs, thresholds, label_names)["macro_f1"], thresholds
