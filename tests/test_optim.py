"""Mixed precision on the CPU: bfloat16 where this CPU's kernels run it, float32 with one line where they do not.

The probe is forced both ways here, so these pass on CPUs with and without bfloat16 RNN kernels; the last
test runs a real training process with oneDNN held to AVX2, as on a CPU without AVX-512.
"""

import json
import os
import platform
import subprocess
import sys

import pytest
import torch
from helpers import TINY_MODEL

import textrnn.training.optim
from textrnn.cli import main
from textrnn.model import ModelConfig
from textrnn.training.optim import cpu_autocast_works, use_amp

LSTM = ModelConfig(vocab_size=50, num_classes=2, embedding_dim=16, hidden_dim=16)


def test_the_probe_leaves_the_random_stream_alone_and_answers_once_per_process():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    cpu_autocast_works.cache_clear()
    first = cpu_autocast_works("gru", 8, 8, 1, True)
    assert torch.equal(torch.rand(3), expected)  # a run's initial weights do not depend on whether it probed
    assert cpu_autocast_works("gru", 8, 8, 1, True) is first and cpu_autocast_works.cache_info().hits == 1


@pytest.mark.parametrize("works", [True, False], ids=["bfloat16 kernels", "no bfloat16 kernels"])
def test_amp_follows_the_probe_on_the_cpu_only(works, monkeypatch):
    monkeypatch.setattr(textrnn.training.optim, "cpu_has_bfloat16_instructions", lambda: True)
    monkeypatch.setattr(textrnn.training.optim, "cpu_autocast_works", lambda *settings: works)
    lines = []
    assert use_amp(True, torch.device("cpu"), LSTM, lines.append) is works
    if works:
        assert lines == []
    else:
        assert lines == ["--amp: this CPU has no bfloat16 kernel for the LSTM (oneDNN needs AVX-512 or AMX for it); "
                         "training in float32 instead"]
    assert use_amp(False, torch.device("cpu"), LSTM, lines.append) is False  # not asked: never on
    assert use_amp(True, torch.device("cuda"), LSTM, lines.append) is True  # float16 on CUDA is not the CPU's business


def test_amp_on_a_cpu_without_bfloat16_instructions_stays_float32_and_says_why(monkeypatch):
    monkeypatch.setattr(textrnn.training.optim, "cpu_has_bfloat16_instructions", lambda: False)
    monkeypatch.setattr(textrnn.training.optim, "cpu_autocast_works", lambda *settings: True)  # emulated kernels run
    lines = []
    assert use_amp(True, torch.device("cpu"), LSTM, lines.append) is False
    assert lines == ["--amp: this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX), where bfloat16 is slower "
                     "than float32; training in float32 instead"]
    assert use_amp(True, torch.device("cuda"), LSTM, lines.append) is True and len(lines) == 1


def test_the_bfloat16_instructions_answer_is_a_bool():
    assert isinstance(textrnn.training.optim.cpu_has_bfloat16_instructions(), bool)


def test_amp_training_where_the_cpu_cannot_runs_in_float32_and_says_so(sentiment_files, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setattr(textrnn.training.optim, "cpu_autocast_works", lambda *settings: False)
    autocasts = []
    real_autocast = torch.autocast

    def recording_autocast(*args, **kwargs):
        autocasts.append(kwargs.get("enabled", True))
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", recording_autocast)
    output = tmp_path / "run"
    assert main(["train", "--train-file", str(sentiment_files["train"]), "--output", str(output), "--epochs", "1",
                 "--amp", *TINY_MODEL]) == 0
    assert "training in float32 instead" in capsys.readouterr().out
    assert autocasts and not any(autocasts)  # every step and validation ran with autocast off
    assert json.loads((output / "train_config.json").read_text())["amp"] is False  # what the run did


def test_amp_training_finishes_on_a_cpu_held_to_avx2(sentiment_files, tmp_path):
    environment = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}  # read when oneDNN starts: a process of its own
    command = [sys.executable, "-m", "textrnn", "train", "--train-file", str(sentiment_files["train"]),
               "--output", str(tmp_path / "run"), "--epochs", "1", "--amp", *TINY_MODEL]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    if platform.machine() in ("x86_64", "AMD64"):  # oneDNN's AVX2 code has no bfloat16 LSTM
        assert "training in float32 instead" in finished.stdout
    assert (tmp_path / "run" / "eval_report.json").is_file()
