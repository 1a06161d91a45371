"""DistributedDataParallel through torchrun: 2 CPU processes with the gloo backend."""

import json
import subprocess
import sys

import pytest

from helpers import TINY_MODEL

pytestmark = pytest.mark.slow  # whole training runs


def test_two_process_training_with_torchrun(sentiment_files, tmp_path):
    output = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "textrnn", "train", "--train-file", str(sentiment_files["train"]),
               "--test-file", str(sentiment_files["test"]), "--output", str(output), "--epochs", "3", *TINY_MODEL]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stdout
    assert result.stdout.count("| epoch   1 |") == 1  # only rank 0 logs
    history = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3]  # one writer: no duplicated rows
    assert json.loads((output / "eval_report.json").read_text())["accuracy"] > 0.85


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "textrnn", "--version"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0 and result.stdout.startswith("textrnn ")
