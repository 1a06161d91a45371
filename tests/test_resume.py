"""Interrupted training: a kill at any moment, Ctrl-C, and resuming to the very same result."""

import json
import signal
import subprocess
import sys

import pytest
import torch
from helpers import TINY_MODEL, metrics_history

import textrnn.checkpoint
import textrnn.training.checkpoints
from textrnn.checkpoint import read_safetensors
from textrnn.training.checkpoints import STATE_FILE
from textrnn.cli import main
from textrnn.model import ModelConfig, RNNClassifier

pytestmark = pytest.mark.slow  # whole training runs

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
    """Every metric of every epoch, the test report and the best model's weights agree.

    Within float rounding rather than bit for bit: the same run gives the same bits only with the same thread
    count and kernels. A resume that went wrong (another random stream, a batch seen twice or skipped, a lost
    optimizer state) moves them by orders of magnitude more than this tolerance."""
    resumed, straight = metrics_history(run), metrics_history(expected)
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in straight]
    for got, want in zip(resumed, straight):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6)
    report, expected_report = (json.loads((directory / "eval_report.json").read_text())
                               for directory in (run, expected))
    assert report["accuracy"] == pytest.approx(expected_report["accuracy"], abs=1 / report["num_examples"])
    weights, expected_weights = (read_safetensors(directory / "model.safetensors")[0] for directory in (run, expected))
    assert weights.keys() == expected_weights.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], expected_weights[name], rtol=1e-4, atol=1e-5, msg=name)


KILL_AFTER_STEP = """
import os, signal, sys
import textrnn.training.loop
from textrnn.cli import main

real_step, steps = textrnn.training.loop.train_step, []

def step_then_die(*args, **kwargs):
    real_step(*args, **kwargs)
    steps.append(1)
    if len(steps) == {step}:  # this step's update is applied, its checkpoint not yet written
        os.kill(os.getpid(), signal.SIGKILL)  # no handler runs, nothing is flushed

textrnn.training.loop.train_step = step_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_mid_epoch_resumes_to_the_same_result(straight_run, sentiment_files, tmp_path):
    output = tmp_path / "killed"
    command = [sys.executable, "-c", KILL_AFTER_STEP.format(step=4), *train_args(sentiment_files, output),
               *EVERY_STEP]
    process = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert saved_position(output) | {"epoch_totals": None} == {  # the checkpoint of step 3 of epoch 1
        "epoch": 0, "step": 3, "best_metric": -float("inf"), "best_epoch": 0, "history": [], "epoch_totals": None}
    assert not (output / "eval_report.json").exists()

    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert_same_results(output, straight_run)
    assert not list(output.rglob(".*.tmp"))  # no temporary file of a write the kill cut short is left


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_in_the_first_epoch_saves_a_checkpoint_and_says_how_to_resume(
        stop_signal, straight_run, sentiment_files, tmp_path, monkeypatch, capsys):
    output = tmp_path / "stopped"
    real_save = textrnn.training.checkpoints.save_training_state
    saves = []

    def save_then_signal(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(args[-1])
        if len(saves) == 5:  # the user presses Ctrl-C five steps into the first epoch
            signal.raise_signal(stop_signal)

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", save_then_signal)
    assert main([*train_args(sentiment_files, output), *EVERY_STEP]) == 130
    printed = capsys.readouterr().out
    assert f"stopped in epoch 1 after step 5; the checkpoint is in {output / 'last'}" in printed
    assert f"textrnn train --resume --output {output}" in printed
    assert saved_position(output)["step"] == 5 and len(saves) == 5  # nothing was saved after the stop

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", real_save)
    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert_same_results(output, straight_run)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_checkpoint(sentiment_files, tmp_path, monkeypatch, capsys):
    output = tmp_path / "stopped"
    real_save = textrnn.training.checkpoints.save_training_state

    def save_then_two_ctrl_c(*args, **kwargs):
        real_save(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", save_then_two_ctrl_c)
    assert main([*train_args(sentiment_files, output), *EVERY_STEP]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert saved_position(output)["step"] == 1


STEP = r"epoch 1, step {step} of (?P<steps>\d+) \(a batch of (?P<texts>\d+) texts of (?P<tokens>\d+( to \d+)?) " \
       r"tokens: ids of shape \[(?P<rows>\d+), (?P<columns>\d+)\]\)"


@pytest.mark.parametrize("lr,step,problem,kept", [
    # 1e37: the first update leaves weights near 1e37, the second step's loss is infinite
    ("1e37", 2, r"the loss is inf", "the last good checkpoint (in epoch 1 after step 1) is kept in {last}"),
    # 1e38: the first update itself overflows; its checkpoint is not written
    ("1e38", 1, r"its update left NaN or infinite values in (?P<names>[\w.]+(, [\w.]+)*)( and (?P<more>\d+) more)?",
     "no checkpoint was saved before it"),
])
def test_a_nan_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(lr, step, problem, kept,
                                                                                          sentiment_files, tmp_path,
                                                                                          capsys):
    import re

    output = tmp_path / "diverged"
    assert main([*train_args(sentiment_files, output), *EVERY_STEP, "--lr", lr, "--warmup", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert kept.format(last=output / "last") in error
    named = re.search(STEP.format(step=step) + ": " + problem, error)
    assert named, error
    # the batch described is a real batch of this run: 540 training texts in batches of 16
    assert int(named["steps"]) == 34 and int(named["texts"]) == int(named["rows"]) <= 16
    assert int(named["columns"]) == int(named["tokens"].split(" to ")[-1])
    if "names" in problem:  # real parameters of the model, no more than it has
        config = textrnn.checkpoint.read_config(output)
        model = RNNClassifier(ModelConfig(**config["model"]))
        parameters = [name for name, _ in model.named_parameters()]
        names = named["names"].split(", ")
        assert set(names) <= set(parameters) and len(names) + int(named["more"] or 0) <= len(parameters)
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
    from textrnn.training.optim import LossWatch

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
    real_save = textrnn.training.checkpoints.save_training_state
    saves = []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(kwargs["average"])
        if len(saves) == 5:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", save_then_stop)
    assert main([*train_args(sentiment_files, stopped), *averaged, *EVERY_STEP]) == 130
    assert saves[-1] is not None and saves[-1].updates == 5
    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", real_save)
    assert main(["train", "--resume", "--output", str(stopped), "--no-progress"]) == 0
    assert_same_results(stopped, straight)
    # the saved model holds the average, the training state the raw weights beside it
    state, _ = read_safetensors(stopped / "last" / STATE_FILE)
    saved, _ = read_safetensors(stopped / "last" / "model.safetensors")
    assert torch.equal(saved["head.weight"], state["average.head.weight"])
    assert not torch.equal(saved["head.weight"], state["model.head.weight"])


def test_the_weight_average_follows_the_weights_with_a_growing_decay():
    from textrnn.training.optim import WeightAverage

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


def test_resume_with_more_epochs_and_patience_trains_on_and_says_so(straight_run, tmp_path, capsys):
    import shutil

    run = shutil.copytree(straight_run, tmp_path / "run")
    assert main(["train", "--resume", "--output", str(run), "--epochs", "3", "--patience", "5", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "resume: epochs 2 -> 3, patience 3 -> 5" in printed and "resumed from" in printed
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    straight_rows = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    for got, want in zip(rows[:2], straight_rows):  # the first two epochs are the saved ones
        assert {k: v for k, v in got.items() if k != "seconds"} == {k: v for k, v in want.items() if k != "seconds"}
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["epochs"] == 3 and saved["patience"] == 5  # a later --resume continues with these
    assert json.loads((run / "config.json").read_text())["training"]["epochs"] == 3
    last, before = (read_safetensors(directory / "last" / "model.safetensors")[0] for directory in (run, straight_run))
    assert not torch.allclose(last["head.weight"], before["head.weight"])  # epoch 3 trained


@pytest.mark.parametrize("flags,message", [
    (["--lr", "0.5"], "--lr (saved 0.01, given 0.5) cannot change; only --epochs, --patience, --device, --amp, "
                      "--no-progress, --checkpoint-every, --quiet, --progress-every, --report-to, --log-every may"),
    (["--hidden-dim", "32", "--seed", "4"],
     "--hidden-dim (saved 16, given 32), --seed (saved 3, given 4) cannot change"),
    (["--force"], "--force starts a new run in place of an earlier one; it cannot be combined with --resume"),
    (["--epochs", "1"], "--epochs 1: the run being resumed has already trained 2 epochs; give 2 or more"),
])
def test_resume_refuses_a_setting_it_cannot_change_and_changes_nothing(flags, message, straight_run, tmp_path,
                                                                        capsys):
    import shutil

    run = shutil.copytree(straight_run, tmp_path / "run")
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert main(["train", "--resume", "--output", str(run), "--no-progress", *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before


def test_resume_accepts_the_original_command_and_the_python_api_refuses_changes_too(straight_run, sentiment_files,
                                                                                    tmp_path, capsys):
    import shutil

    from textrnn.training.config import TrainConfig
    from textrnn.errors import ConfigError
    from textrnn.training.train import train

    run = shutil.copytree(straight_run, tmp_path / "run")
    assert main([*train_args(sentiment_files, run), "--resume"]) == 0  # every flag as saved: nothing to refuse
    assert "resume:" not in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"--batch-size \(saved 16, given 8\) cannot change"):
        train(TrainConfig(output=str(run), resume="auto", batch_size=8))


def test_a_run_that_stopped_early_stays_stopped_unless_patience_grows():
    from textrnn.training.rundir import stopped_early

    ended = {"epoch": 5, "best_epoch": 2}
    assert stopped_early(ended, patience=3) and not stopped_early(ended, patience=4)
    assert not stopped_early({"epoch": 5, "best_epoch": 2, "step": 7}, patience=3)  # stopped within an epoch
    assert not stopped_early({"epoch": 0, "best_epoch": 0}, patience=1)


def test_a_stretched_schedule_gives_the_next_step_its_new_learning_rate():
    from textrnn.training.optim import follow_schedule, warmup_cosine

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    finished = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(10, 0))
    for _ in range(10):
        optimizer.step()
        finished.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    stretched = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(20, 0))
    stretched.load_state_dict(finished.state_dict())
    follow_schedule(optimizer, stretched)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)  # halfway through the 20-step cosine
