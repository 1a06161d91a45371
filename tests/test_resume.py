"""Interrupted training: a kill at any moment, Ctrl-C, and resuming to the very same result."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_MODEL

import textrnn.checkpoint
from textrnn.checkpoint import STATE_FILE, read_safetensors
from textrnn.cli import main

EVERY_STEP = ["--checkpoint-every", "1e-9"]  # any positive number of seconds below a step's time


def train_args(sentiment_files, output) -> list[str]:
    return ["train", "--train-file", str(sentiment_files["train"]), "--test-file", str(sentiment_files["test"]),
            "--output", str(output), "--epochs", "2", "--seed", "3", *TINY_MODEL]


@pytest.fixture(scope="module")
def straight_run(sentiment_files, tmp_path_factory):
    """The uninterrupted run that interrupted ones must reproduce (default cadence: no mid-epoch checkpoint)."""
    output = tmp_path_factory.mktemp("straight") / "run"
    assert main(train_args(sentiment_files, output)) == 0
    return output


def saved_position(run) -> dict | None:
    """The trainer state of run/last's checkpoint (epoch, step, ...), or None before the first one."""
    path = run / "last" / STATE_FILE
    if not path.is_file():
        return None
    return json.loads(read_safetensors(path)[1]["trainer_state"])


def assert_same_results(run, expected):
    """Every metric of every epoch, the test report and the best model's weights are identical."""
    def history(directory):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (directory / "metrics.jsonl").read_text().splitlines()]

    assert history(run) == history(expected)
    assert json.loads((run / "eval_report.json").read_text()) == json.loads((expected / "eval_report.json").read_text())
    assert (run / "model.safetensors").read_bytes() == (expected / "model.safetensors").read_bytes()


def test_a_run_killed_mid_epoch_resumes_to_the_same_result(straight_run, sentiment_files, tmp_path):
    output = tmp_path / "killed"
    command = [sys.executable, "-m", "textrnn", *train_args(sentiment_files, output), *EVERY_STEP]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (saved_position(output) or {}).get("step"):  # wait for a checkpoint within an epoch
            assert process.poll() is None, f"training ended before it was killed: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)  # no handler runs, nothing is flushed
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = saved_position(output)
    assert killed_at["epoch"] == 0 and killed_at["step"] > 0, killed_at  # in the middle of epoch 1
    assert not (output / "eval_report.json").exists()

    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert_same_results(output, straight_run)
    assert not list(output.rglob(".*.tmp"))  # no temporary file of a write the kill cut short is left


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_in_the_first_epoch_saves_a_checkpoint_and_says_how_to_resume(
        stop_signal, straight_run, sentiment_files, tmp_path, monkeypatch, capsys):
    output = tmp_path / "stopped"
    real_save = textrnn.checkpoint.save_training_state
    saves = []

    def save_then_signal(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(args[-1])
        if len(saves) == 5:  # the user presses Ctrl-C five steps into the first epoch
            signal.raise_signal(stop_signal)

    monkeypatch.setattr(textrnn.checkpoint, "save_training_state", save_then_signal)
    assert main([*train_args(sentiment_files, output), *EVERY_STEP]) == 130
    printed = capsys.readouterr().out
    assert f"stopped in epoch 1 after step 5; the checkpoint is in {output / 'last'}" in printed
    assert f"textrnn train --resume --output {output}" in printed
    assert saved_position(output)["step"] == 5 and len(saves) == 5  # nothing was saved after the stop

    monkeypatch.setattr(textrnn.checkpoint, "save_training_state", real_save)
    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert_same_results(output, straight_run)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_checkpoint(sentiment_files, tmp_path, monkeypatch, capsys):
    output = tmp_path / "stopped"
    real_save = textrnn.checkpoint.save_training_state

    def save_then_two_ctrl_c(*args, **kwargs):
        real_save(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(textrnn.checkpoint, "save_training_state", save_then_two_ctrl_c)
    assert main([*train_args(sentiment_files, output), *EVERY_STEP]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert saved_position(output)["step"] == 1


@pytest.mark.parametrize("lr,message,kept", [
    # 1e37: the first update leaves weights near 1e37, the second step's loss is infinite
    ("1e37", "epoch 1, step 2 of 34 (a batch of 16 texts of 14 tokens: ids of shape [16, 14]): the loss is inf",
     "the last good checkpoint (in epoch 1 after step 1) is kept in {last}"),
    # 1e38: the first update itself overflows; its checkpoint is not written
    ("1e38", "epoch 1, step 1 of 34 (a batch of 16 texts of 6 tokens: ids of shape [16, 6]): its update left "
     "NaN or infinite values in embedding.weight, rnn.weight_ih_l0, rnn.weight_hh_l0 and 8 more",
     "no checkpoint was saved before it"),
])
def test_a_nan_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(lr, message, kept,
                                                                                          sentiment_files, tmp_path,
                                                                                          capsys):
    import torch

    output = tmp_path / "diverged"
    assert main([*train_args(sentiment_files, output), *EVERY_STEP, "--lr", lr, "--warmup", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert message in error and kept.format(last=output / "last") in error
    position = saved_position(output)
    if position is not None:
        assert position["step"] == 1  # nothing saved after the bad step
        tensors, _ = read_safetensors(output / "last" / STATE_FILE)
        assert all(torch.isfinite(tensor).all() for tensor in tensors.values() if tensor.is_floating_point())
    assert not (output / "model.safetensors").exists() and not (output / "metrics.jsonl").exists()


def truncate(path):
    path.write_bytes(path.read_bytes()[:-50])


def drop_a_weight(path):
    import safetensors.torch

    tensors, metadata = read_safetensors(path)
    del tensors["model.head.bias"]
    safetensors.torch.save_file(tensors, path, metadata=metadata)


@pytest.mark.parametrize("damage,message", [
    (truncate, "{state}: cannot read the weights (damaged or truncated?)"),
    (drop_a_weight, "{state} does not fit this run's model and optimizer: Error(s) in loading state_dict"),
])
def test_a_damaged_checkpoint_is_named_when_resuming(damage, message, straight_run, tmp_path, capsys):
    import shutil

    run = shutil.copytree(straight_run, tmp_path / "run")
    state = run / "last" / STATE_FILE
    damage(state)
    assert main(["train", "--resume", "--output", str(run), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert message.format(state=state) in error and len(error.splitlines()) == 1


def test_the_loss_watch_names_the_first_bad_step_even_when_it_reads_losses_late():
    import torch

    from textrnn.errors import NonFiniteLossError
    from textrnn.optim import LossWatch

    def step(number):
        return {"epoch": 2, "step": number, "steps": 9, "lengths": torch.tensor([3, 5])}

    watch = LossWatch(check_every=4)  # as on CUDA, where each read waits for the GPU
    for number, (loss, grad_norm) in enumerate([(0.7, 1.0), (float("nan"), 1.0), (0.6, float("inf"))], start=1):
        watch.add(torch.tensor(loss), torch.tensor(grad_norm), step(number))  # three of four: nothing read yet
    with pytest.raises(NonFiniteLossError, match=r"^epoch 2, step 2 of 9 \(a batch of 2 texts of 3 to 5 tokens: "
                                                 r"ids of shape \[2, 5\]\): the loss is nan$"):
        watch.add(torch.tensor(0.5), torch.tensor(1.0), step(4))
    watch.add(torch.tensor(0.5), torch.tensor(float("inf")), step(5))
    with pytest.raises(NonFiniteLossError, match="step 5 of 9 .*: the gradient norm is inf"):
        watch.check()  # before a checkpoint or at the epoch's end


def test_resume_rewrites_the_metrics_that_a_kill_cut_short(straight_run, tmp_path):
    import shutil

    run = shutil.copytree(straight_run, tmp_path / "run")
    metrics = run / "metrics.jsonl"
    # killed after the last epoch's checkpoint, before its metrics row was written
    metrics.write_text(metrics.read_text().splitlines(keepends=True)[0])
    assert main(["train", "--resume", "--output", str(run), "--no-progress"]) == 0
    assert_same_results(run, straight_run)


def test_a_weight_average_is_what_gets_validated_and_saved_and_it_survives_a_resume(
        sentiment_files, tmp_path, monkeypatch):
    averaged = ["--average-decay", "0.9"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main([*train_args(sentiment_files, straight), *averaged]) == 0
    real_save = textrnn.checkpoint.save_training_state
    saves = []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(kwargs["average"])
        if len(saves) == 5:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(textrnn.checkpoint, "save_training_state", save_then_stop)
    assert main([*train_args(sentiment_files, stopped), *averaged, *EVERY_STEP]) == 130
    assert saves[-1] is not None and saves[-1].updates == 5
    monkeypatch.setattr(textrnn.checkpoint, "save_training_state", real_save)
    assert main(["train", "--resume", "--output", str(stopped), "--no-progress"]) == 0
    assert_same_results(stopped, straight)
    # the saved model holds the average, the training state the raw weights beside it
    state, _ = read_safetensors(stopped / "last" / STATE_FILE)
    saved, _ = read_safetensors(stopped / "last" / "model.safetensors")
    assert torch.equal(saved["head.weight"], state["average.head.weight"])
    assert not torch.equal(saved["head.weight"], state["model.head.weight"])


def test_the_weight_average_follows_the_weights_with_a_growing_decay():
    from textrnn.optim import WeightAverage

    layer = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    average = WeightAverage(layer, decay=0.5)
    expected = torch.ones(1, 2)
    for step, value in enumerate([3.0, 5.0, 7.0], start=1):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update()
        decay = min(0.5, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * value
    with average.in_place():
        torch.testing.assert_close(layer.weight.detach(), expected)
    assert torch.equal(layer.weight.detach(), torch.full((1, 2), 7.0))  # the model's own weights are back
