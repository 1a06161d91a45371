"""What a training run tells its user: the epoch line of either label shape, which split the report is on, progress
when stderr is not a terminal, --quiet, and --report-to tensorboard (read back with TensorBoard's own reader)."""

import contextlib
import io
import json
import re
import sys

import pytest
from helpers import TINY_MODEL, make_texts, write_csv

from textrnn.cli import main
from textrnn.training.config import TrainConfig
from textrnn.tasks import make_task
from textrnn.training.logs import EpochLine, Progress, RunLog, duration, plural

SHOWN_MODEL = [flag for flag in TINY_MODEL if flag != "--no-progress"]  # these tests want the progress lines
SINGLE_LINE = re.compile(r"^\| epoch +\d+ \| +\d+\.\d+s \| train loss \d\.\d{4} acc +\d+\.\d\d% \| "
                         r"valid loss \d\.\d{4} acc +\d+\.\d\d% f1 +\d+\.\d\d% \| lr \d\.\d\de[-+]\d\d \|( best)?$")
PROGRESS_LINE = re.compile(r"^epoch (\d+): step ([\d,]+)/([\d,]+) \(\d+%\), [\d,]+ texts/s, (loss|loss/label) "
                           r"(\d+\.\d{4}), [\dhms ]+ left in the epoch$")


def run_main(argv) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured; stderr is no terminal, as when the output goes to a file."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def history(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def scalars(directory) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files in `directory`, as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(directory))
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


# ----------------------------------------------------------------------------------------------- small parts


def test_plural_and_duration():
    assert [plural(1, "epoch"), plural(3, "epoch"), plural(1200, "text")] == ["1 epoch", "3 epochs", "1,200 texts"]
    assert [duration(4.6), duration(365), duration(7380)] == ["5s", "6m 05s", "2h 03m"]


ROW = {"epoch": 2, "seconds": 19.43, "train_loss": 0.31274, "train_accuracy": 0.8701, "valid_loss": 0.35981,
       "valid_accuracy": 0.8452, "valid_macro_f1": 0.8449, "lr": 1.5e-3}


def test_the_single_label_epoch_line_is_as_it_always_was():
    line = EpochLine(make_task("single", ["neg", "pos"]))
    assert line.format(ROW, improved=True) == ("| epoch   2 |   19.4s | train loss 0.3127 acc 87.01% | valid "
                                               "loss 0.3598 acc 84.52% f1 84.49% | lr 1.50e-03 | best")
    assert line.legend() is None


def test_a_multi_label_epoch_line_gives_the_loss_per_label_macro_f1_first_and_names_its_accuracy():
    row = dict(ROW, train_loss=32.4, valid_loss=33.6, train_accuracy=0.0032, valid_accuracy=0.004)  # 28 labels
    line = EpochLine(make_task("multi", [f"emotion {i}" for i in range(28)]))
    assert line.format(row, improved=False) == ("| epoch   2 |   19.4s | train loss/label 1.1571 exact  0.32% | valid "
                                                "macro-F1 84.49% loss/label 1.2000 exact  0.40% | lr 1.50e-03 |")
    assert "28 labels" in line.legend() and "every label right" in line.legend()


def test_progress_prints_a_line_every_so_many_seconds_with_the_time_left():
    now, lines = [0.0], []
    progress = Progress("lines", "epoch 3", steps=10, done=2, every=30, log=lines.append, clock=lambda: now[0])
    for step in range(3, 11):  # a resumed epoch: steps 3 to 10, 10 seconds and 32 texts each
        now[0] += 10
        progress.update(step, 32, loss=lambda: 0.25)
    assert lines == ["epoch 3: step 5/10 (50%), 3 texts/s, loss 0.2500, 50s left in the epoch",
                     "epoch 3: step 8/10 (80%), 3 texts/s, loss 0.2500, 20s left in the epoch"]  # none at the end


def test_a_quiet_log_prints_nothing_but_warnings_and_those_to_stderr(capsys):
    log = RunLog(quiet=True)
    log("| epoch   1 | ...")
    log("warning: 40.0% of the validation tokens are [UNK]")
    log.warn("stopped after epoch 1")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "warning: 40.0% of the validation tokens are [UNK]\nstopped after epoch 1\n"
    RunLog(enabled=False)("not on this rank")
    assert capsys.readouterr() == ("", "")


def test_a_resumed_run_may_change_how_it_reports(tmp_path):
    from textrnn.training.rundir import resumed_config

    saved, logged = TrainConfig(output=str(tmp_path), epochs=2), []
    asked = TrainConfig(output=str(tmp_path), quiet=True, report_to="tensorboard", log_every=10, progress_every=5)
    config = resumed_config(saved, asked, {"quiet", "report_to", "log_every", "progress_every"}, tmp_path,
                            logged.append)
    assert (config.quiet, config.report_to, config.log_every, config.progress_every) == (True, "tensorboard", 10, 5)
    assert config.epochs == 2 and logged and "quiet False -> True" in logged[0]


# ----------------------------------------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs-data")
    unknown = [(" ".join(f"zq{i}x{j}" for j in range(6)), "pos" if i % 2 else "neg") for i in range(40)]
    return {"train": write_csv(root / "train.csv", make_texts(600, seed=1)),
            "unknown": write_csv(root / "unknown.csv", unknown)}  # validation texts of words never seen in training


@pytest.fixture(scope="module")
def single_run(data, tmp_path_factory):
    """Pre-training and 2 epochs, no test split, stderr no terminal, a progress line at every chance, TensorBoard."""
    output = tmp_path_factory.mktemp("logs") / "single"
    code, out, err = run_main(["train", "--train-file", str(data["train"]), "--output", str(output), "--epochs", "2",
                               "--pretrain-epochs", "1", "--progress-every", "0.000001", "--report-to", "tensorboard",
                               "--log-every", "5", *SHOWN_MODEL])
    assert code == 0, err
    return {"output": output, "out": out, "err": err}


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    from test_multilabel import make_rows

    root = tmp_path_factory.mktemp("logs-multi")
    train = write_csv(root / "train.csv", [(text, "|".join(labels)) for text, labels in make_rows(600, seed=1)],
                      header=("text", "topics"))
    output = root / "run"
    code, out, err = run_main(["train", "--train-file", str(train), "--label-column", "topics", "--label-separator",
                               "|", "--output", str(output), "--epochs", "2", "--report-to", "tensorboard",
                               *TINY_MODEL])
    assert code == 0, err
    return {"output": output, "out": out}


@pytest.mark.slow
def test_a_single_label_runs_epoch_lines_keep_their_fixed_width_layout(single_run):
    lines = [line for line in single_run["out"].splitlines() if line.startswith("| epoch")]
    assert len(lines) == 2 and all(SINGLE_LINE.match(line) for line in lines)
    assert "epoch lines:" not in single_run["out"]


@pytest.mark.slow
def test_a_multi_label_runs_epoch_lines_show_the_loss_per_label_and_macro_f1(multi_run):
    out, rows = multi_run["out"], history(multi_run["output"])
    lines = [line for line in out.splitlines() if line.startswith("| epoch")]
    assert len(lines) == 2
    for line, row in zip(lines, rows):
        assert f"train loss/label {row['train_loss'] / 3:.4f} exact {row['train_accuracy']:6.2%}" in line
        assert f"| valid macro-F1 {row['valid_macro_f1']:6.2%} loss/label {row['valid_loss'] / 3:.4f}" in line
        assert " acc " not in line
    assert "epoch lines: loss/label is the binary cross-entropy averaged over the 3 labels" in out


@pytest.mark.slow
def test_a_report_on_the_validation_split_says_it_chose_the_best_epoch(single_run, multi_run):
    for run, out in ((single_run["output"], single_run["out"]), (multi_run["output"], multi_run["out"])):
        note = "validation split (it also chose the best epoch: optimistic)"
        assert (run / "eval_report.md").read_text(encoding="utf-8").splitlines()[0] == f"# {run.name}: {note}"
        assert re.search(rf"^{re.escape(note)}, best epoch \d: ", out, re.MULTILINE)
        assert "no test split: give --test-file" in out


@pytest.mark.slow
def test_a_report_on_the_test_split_says_so_and_nothing_of_optimism(trained_run):
    first = (trained_run / "eval_report.md").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# {trained_run.name}: test split"


@pytest.mark.slow
def test_without_a_terminal_progress_comes_as_plain_lines_in_the_log(single_run):
    lines = single_run["out"].splitlines()
    progress = [match for line in lines if (match := PROGRESS_LINE.match(line))]
    assert {match[1] for match in progress} == {"1", "2"} and all(match[4] == "loss" for match in progress)
    assert all(int(match[2]) < int(match[3].replace(",", "")) for match in progress)  # none after the last step
    pretraining = [line for line in lines if line.startswith("pre-training epoch 1: step ")]
    assert pretraining and all(re.search(r"texts/s, [\d,]+ tokens/s, loss \d+\.\d{4}, .* left in the epoch$", line)
                               for line in pretraining)
    assert "for 1 epoch on 540 texts" in single_run["out"]  # not "1 epochs"
    assert "\r" not in single_run["err"] and "it/s" not in single_run["err"]  # no progress bar where none is seen


@pytest.mark.slow
def test_quiet_prints_no_log_line_but_still_warns_on_stderr(data, tmp_path):
    code, out, err = run_main(["train", "--train-file", str(data["train"]), "--validation-file",
                               str(data["unknown"]), "--output", str(tmp_path / "run"), "--epochs", "1", "--quiet",
                               "--progress-every", "0.000001", *SHOWN_MODEL])
    assert code == 0 and out == ""
    assert [line for line in err.splitlines() if line.startswith("warning:")] and "[UNK]" in err
    assert (tmp_path / "run" / "eval_report.md").is_file()


@pytest.mark.slow
def test_tensorboard_gets_each_epochs_numbers_and_the_loss_every_n_steps(single_run):
    run, rows = single_run["output"], history(single_run["output"])
    found = scalars(run / "tensorboard")
    expected = {"loss/train": "train_loss", "loss/validation": "valid_loss", "accuracy/train": "train_accuracy",
                "accuracy/validation": "valid_accuracy", "macro_f1/validation": "valid_macro_f1",
                "learning_rate/epoch": "lr"}
    for tag, key in expected.items():
        assert [step for step, _ in found[tag]] == [1, 2]
        assert [value for _, value in found[tag]] == pytest.approx([row[key] for row in rows], rel=1e-6)
    steps = [step for step, _ in found["loss/train_steps"]]
    assert steps and all(step % 5 == 0 for step in steps) and steps == sorted(steps)
    assert all(0 < value < 2 for _, value in found["loss/train_steps"])
    pretraining = scalars(run / "tensorboard" / "pretrain")
    assert [step for step, _ in pretraining["perplexity/validation"]] == [1]


@pytest.mark.slow
def test_tensorboard_of_a_multi_label_run_has_the_loss_per_label(multi_run):
    found, rows = scalars(multi_run["output"] / "tensorboard"), history(multi_run["output"])
    assert [value for _, value in found["loss/train"]] == pytest.approx([row["train_loss"] / 3 for row in rows])
    assert [value for _, value in found["exact_match/validation"]] == pytest.approx(
        [row["valid_accuracy"] for row in rows])


def test_report_to_tensorboard_without_the_package_is_one_line(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    code, out, err = run_main(["train", "--train-file", str(data["train"]), "--output", str(tmp_path / "run"),
                               "--report-to", "tensorboard", *TINY_MODEL])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--report-to tensorboard needs the tensorboard package" in err and "textrnn[tensorboard]" in err
    assert not (tmp_path / "run").exists()  # refused before any work
