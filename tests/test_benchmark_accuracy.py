"""scripts/benchmark_accuracy.py's fastText input and its table from logs, without fastText installed."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    # The script does `from common import ...` (scripts/common.py), which `python scripts/benchmark_accuracy.py`
    # finds because Python puts the script's folder first on sys.path. Loaded from here it is not, so scripts/
    # goes on sys.path while the script loads, and comes off again after.
    spec = importlib.util.spec_from_file_location("benchmark_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPT.parent))
        spec.loader.exec_module(module)
    return module


def test_fasttext_text_lowercases_splits_punctuation_and_spaces_out_unspaced_scripts(bench):
    assert bench.fasttext_text("Don't STOP.\nNow!", spaced=True) == "don ' t stop . now !"
    assert bench.fasttext_text("很好用，\n推荐 ok", spaced=False) == "很 好 用 ， 推 荐 o k"


def test_table_from_an_old_run_log_shows_a_dash_for_fasttext(bench, tmp_path, monkeypatch):
    old = {"dataset": "sst2", "seed": 0, "date": "2026-11-23", "accuracy": 0.8, "macro_f1": 0.8, "seconds": 60,
           "command": "textrnn train ...", "preset": "sentence",
           "baseline": {"accuracy": 0.82, "valid_accuracy": 0.9, "C": 10.0, "seconds": 9}}
    (tmp_path / "runs.jsonl").write_text(json.dumps(old) + "\n")
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")  # absent
    monkeypatch.setattr(bench, "data_flags", lambda root, name: ["--train-file", "t", "--test-file", "v"])
    bench.write_results(bench.rows_from_log(None, tmp_path), tmp_path / "RESULTS.md", "test")
    row = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("| sst2"))
    assert "82.00 (C=10.0, word 1-2 grams) | — |" in row

    fasttext = {"dataset": "sst2", "method": "fasttext", "date": "2026-11-27", "accuracy": 0.81, "valid_score": 0.9,
                "tuning": "autotune 120 s", "thread": 2, "seed": 0, "seconds": 130,
                "settings": {"lr": 0.5, "epoch": 7, "dim": 40, "wordNgrams": 2, "minn": 0, "maxn": 0}}
    (tmp_path / "baselines.jsonl").write_text(json.dumps(fasttext) + "\n")
    bench.write_results(bench.rows_from_log(None, tmp_path), tmp_path / "RESULTS.md", "test")
    row = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("| sst2"))
    assert "| 81.00 (lr 0.5, epoch 7, dim 40, wordNgrams 2) |" in row
