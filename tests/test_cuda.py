"""CUDA: the packed cuDNN path against the CPU's, training with and without --amp, resuming after a kill, the loss
watch, inference and evaluation, and torchrun with NCCL. Every test is marked `cuda` and skipped without a GPU:

    pytest -m cuda    # on a machine with one; scripts/gpu_check.sh runs it there (docs/GPU.md)
"""

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import TINY_MODEL, metrics_history
from test_resume import KILL_AFTER_STEP, saved_position

import textrnn.training.loop
from textrnn import classify_text, load
from textrnn.batching import collate
from textrnn.cli import main
from textrnn.checkpoint import read_safetensors
from textrnn.model import CELLS, ModelConfig, RNNClassifier

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

DEVICE = TINY_MODEL.index("--device")
CUDA_MODEL = [*TINY_MODEL[:DEVICE], "--device", "cuda", *TINY_MODEL[DEVICE + 2 :]]  # the tiny model, on the GPU
UNEVEN = [[3, 4, 5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17, 18], [19]]  # padding in every row but the first
TEXTS = ["a wonderful, moving film", "dull and tedious", "the plot was brilliant and the cast superb", "awful"]


@pytest.fixture
def exact_float32():
    """float32 products without TF32, on cuDNN (whose default allows it) and cuBLAS alike, to compare with the CPU."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield
    torch.backends.cuda.matmul.allow_tf32 = matmul


def train_args(sentiment_files, output, *extra) -> list[str]:
    return ["train", "--train-file", str(sentiment_files["train"]), "--test-file", str(sentiment_files["test"]),
            "--output", str(output), "--seed", "3", *CUDA_MODEL, *extra]


# ----------------------------------------------------------------------------- the model: cuDNN against the CPU


@pytest.mark.parametrize("cell,bidirectional,num_layers",
                         [(cell, bidirectional, layers) for cell in CELLS for bidirectional in (True, False)
                          for layers in (1, 2)])
def test_packed_cudnn_gives_the_cpu_paths_logits_and_gradients(cell, bidirectional, num_layers, exact_float32):
    """Same weights, a batch of uneven lengths: the packed cuDNN kernels (textrnn's path on CUDA) against the CPU's
    per-direction padded kernels, the logits in evaluation and the gradients in training."""
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden_dim=12, cell=cell,
                                      bidirectional=bidirectional, num_layers=num_layers, dropout=0.0,
                                      word_dropout=0.0, pooling="max+mean+last"))
    batch = collate(UNEVEN, labels=[0, 2, 1, 2])
    results = {}
    for device in ("cpu", "cuda"):
        model.to(device).eval()
        with torch.no_grad():
            logits = model(batch["ids"].to(device), batch["lengths"])
        model.train().zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["ids"].to(device), batch["lengths"]),
                                                 batch["labels"].to(device))
        loss.backward()
        # copies: Module.to() moves each .grad in place, so a plain .cpu() of the CPU run's would follow it to CUDA
        results[device] = (logits.to("cpu", copy=True),
                           {name: p.grad.to("cpu", copy=True) for name, p in model.named_parameters()})
    (cpu_logits, cpu_grads), (cuda_logits, cuda_grads) = results["cpu"], results["cuda"]
    torch.testing.assert_close(cuda_logits, cpu_logits, rtol=1e-4, atol=1e-4)
    for name, grad in cpu_grads.items():
        torch.testing.assert_close(cuda_grads[name], grad, rtol=1e-4, atol=1e-5,
                                   msg=lambda message, name=name: f"{name}: {message}")


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("ngrams", [0, 2], ids=["rnn", "bag"])
@pytest.mark.parametrize("amp", [False, True], ids=["float32", "amp"])
def test_training_on_cuda_with_and_without_amp(amp, ngrams, sentiment_files, tmp_path, capsys):
    output = tmp_path / "run"
    assert main(train_args(sentiment_files, output, "--epochs", "4", "--ngrams", str(ngrams),
                           *(["--amp"] if amp else []))) == 0
    assert "device cuda" in capsys.readouterr().out
    settings = json.loads((output / "train_config.json").read_text())
    assert settings["device"] == "cuda" and settings["amp"] is amp  # on CUDA --amp is float16 with a GradScaler
    report = json.loads((output / "eval_report.json").read_text())
    assert report["accuracy"] > 0.85
    weights, _ = read_safetensors(output / "model.safetensors")  # saved from the GPU, read on the CPU
    assert all(torch.isfinite(tensor).all() for tensor in weights.values() if tensor.is_floating_point())
    assert classify_text(TEXTS[0], output, device="cuda")["label"] == "pos"


def assert_close_results(run, expected):
    """Every epoch's metrics and the best weights agree with the uninterrupted run's. Looser than the CPU's test
    (tests/test_resume.py): CUDA kernels may sum in another order from one process to the next, and a resume that
    went wrong (another random stream, a batch seen twice or skipped) moves them by far more than this."""
    resumed, straight = metrics_history(run), metrics_history(expected)
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in straight]
    for got, want in zip(resumed, straight):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4)
    weights, expected_weights = (read_safetensors(directory / "model.safetensors")[0] for directory in (run, expected))
    assert weights.keys() == expected_weights.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], expected_weights[name], rtol=1e-3, atol=1e-4, msg=name)


def test_a_run_killed_mid_epoch_on_cuda_resumes_to_the_same_result(sentiment_files, tmp_path):
    straight = tmp_path / "straight"
    assert main(train_args(sentiment_files, straight, "--epochs", "2")) == 0
    output = tmp_path / "killed"
    command = [sys.executable, "-c", KILL_AFTER_STEP.format(step=4),
               *train_args(sentiment_files, output, "--epochs", "2", "--checkpoint-every", "1e-9")]
    process = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert saved_position(output)["step"] == 3  # the checkpoint of step 3 of epoch 1: step 4's was never written
    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert_close_results(output, straight)


@pytest.mark.parametrize("amp", [False, True], ids=["float32", "amp"])
def test_the_loss_watch_reads_late_on_cuda_and_still_names_the_planted_nan(amp, sentiment_files, tmp_path,
                                                                           monkeypatch, capsys):
    """On CUDA the watch reads the losses every 100 steps and at the epoch's end, not each step; the first bad
    step is still the one named, and nothing after it is saved."""
    real_step, calls = textrnn.training.loop.train_step, []

    def nan_at_step_7(loss, *args, **kwargs):
        calls.append(1)
        real_step(loss * float("nan") if len(calls) == 7 else loss, *args, **kwargs)

    monkeypatch.setattr(textrnn.training.loop, "train_step", nan_at_step_7)
    output = tmp_path / "diverged"
    assert main(train_args(sentiment_files, output, "--epochs", "2", *(["--amp"] if amp else []))) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert re.search(r"epoch 1, step 7 of 34 \(a batch of \d+ texts .*\): the loss is nan", error), error
    assert len(calls) > 7  # read late: training ran on past the bad step until the watch looked (the epoch's end)
    assert not (output / "model.safetensors").exists() and not (output / "metrics.jsonl").exists()


# ----------------------------------------------------------------------------- inference and evaluation


def test_classify_text_on_cuda_gives_the_cpu_probabilities(trained_run, exact_float32):
    on_gpu, on_cpu = load(trained_run, device="cuda"), load(trained_run, engine="torch")  # PyTorch on both
    assert next(on_gpu.model.parameters()).is_cuda
    np.testing.assert_allclose(on_gpu.predict_proba(TEXTS), on_cpu.predict_proba(TEXTS), rtol=1e-4, atol=1e-5)
    expected = classify_text(TEXTS, on_cpu)
    for results in (classify_text(TEXTS, on_gpu), classify_text(TEXTS, trained_run, device="cuda")):  # loaded, a dir
        assert [result["label"] for result in results] == [result["label"] for result in expected]
        assert [result["score"] for result in results] == pytest.approx([result["score"] for result in expected],
                                                                        abs=1e-5)


def test_evaluate_on_cuda_reports_what_the_cpu_does(trained_run, sentiment_files, tmp_path, exact_float32):
    reports = {}
    for device in ("cpu", "cuda"):
        assert main(["evaluate", str(trained_run), "--test-file", str(sentiment_files["test"]), "--output",
                     str(tmp_path / device), "--device", device, "--engine", "torch"]) == 0
        reports[device] = json.loads((tmp_path / device / "eval_report.json").read_text())
    assert reports["cuda"]["num_examples"] == reports["cpu"]["num_examples"] == 200
    assert reports["cuda"]["accuracy"] == reports["cpu"]["accuracy"]


# ----------------------------------------------------------------------------- torchrun and NCCL

NCCL_THEN_TRAIN = """
import sys
import torch
import torch.distributed as dist
from textrnn.cli import main

torch.cuda.set_device(0)
dist.init_process_group("nccl")  # rank 0 of torchrun's 1: textrnn's all-reduces now go through NCCL
print("backend", dist.get_backend(), flush=True)
sys.exit(main(sys.argv[1:]))
"""


def torchrun(*command) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", *command]


def check_torchrun_run(result, output) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "device cuda" in result.stdout
    history = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert json.loads((output / "eval_report.json").read_text())["accuracy"] > 0.85


def test_torchrun_with_one_process_trains_on_the_gpu(sentiment_files, tmp_path):
    output = tmp_path / "torchrun"
    result = subprocess.run(torchrun("-m", "textrnn", *train_args(sentiment_files, output, "--epochs", "3")),
                            capture_output=True, text=True, timeout=120, check=False)
    check_torchrun_run(result, output)


def test_torchrun_with_an_nccl_process_group(sentiment_files, tmp_path):
    """textrnn starts a process group only for 2 processes or more (NCCL wants a GPU for each, and this test has
    one): here the group is started before textrnn's main, as a 1-process NCCL world, so the epoch's totals that
    textrnn all-reduces (Distributed.all_reduce) go through NCCL, and its end_distributed closes the group."""
    script, output = tmp_path / "nccl_train.py", tmp_path / "nccl"
    script.write_text(NCCL_THEN_TRAIN)
    result = subprocess.run(torchrun(str(script), *train_args(sentiment_files, output, "--epochs", "3")),
                            capture_output=True, text=True, timeout=120, check=False)
    assert "backend nccl" in result.stdout, result.stderr[-3000:]
    check_torchrun_run(result, output)
