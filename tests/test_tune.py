"""textrnn tune: the search end to end on tiny data, pruning, failed trials, Ctrl-C and resuming, bad input; and
train --config."""

import contextlib
import io
import json
import os
import shutil
import signal

import optuna
import pytest
from helpers import make_texts, write_csv
from optuna.trial import TrialState

import textrnn.training.tune
from textrnn.cli import main
from textrnn.errors import ConfigError, DataError, NonFiniteLossError
from textrnn.training.tune import SEARCH_SPACE, parse_duration, tune

pytestmark = pytest.mark.slow  # whole training runs

FIXED = ["--epochs", "2", "--embedding-dim", "8", "--hidden-dim", "8", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-data")
    return {"train": str(write_csv(root / "train.csv", make_texts(200, seed=1))),
            "validation": str(write_csv(root / "valid.csv", make_texts(80, seed=3))),
            "test": str(write_csv(root / "test.csv", make_texts(40, seed=2))),
            "other": str(write_csv(root / "other.csv", make_texts(120, seed=4)))}


def data_flags(data) -> list[str]:
    return ["--train-file", data["train"], "--validation-file", data["validation"]]


def run_main(argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def stored_trials(run, name="textrnn"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{run / 'study.db'}").trials


@pytest.fixture(scope="module")
def tuned(data, tmp_path_factory):
    """3 trials over the default search space (all that FIXED leaves), through the command line."""
    run = tmp_path_factory.mktemp("tuned") / "run"
    code, out = run_main(["tune", *data_flags(data), "--test-file", data["test"], *FIXED, "--trials", "3",
                          "--output", str(run)])
    assert code == 0
    return run, out


def test_tune_writes_the_table_the_best_settings_and_the_plots(tuned):
    run, out = tuned
    trials = stored_trials(run)
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * 3
    assert {name for trial in trials for name in trial.params} == set(SEARCH_SPACE) - {"embedding_dim", "hidden_dim"}
    table = out[out.index(" trial  accuracy  state     epochs  params"):]
    rows = table.splitlines()[1:4]
    assert [float(row.split()[1]) for row in rows] == sorted((trial.value for trial in trials), reverse=True)
    assert "3 trials: 3 complete" in table
    best = max(trials, key=lambda trial: trial.value)
    assert json.loads((run / "best_config.json").read_text()) == best.user_attrs["settings"]
    assert "textrnn train --train-file" in out and f"--output {run / 'best'}" in out
    for name in ("optimization_history.png", "param_importances.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for trial in trials:  # a normal run each, judged on validation only: no report on the test split
        trial_dir = run / "trials" / f"{trial.number:04d}"
        assert (trial_dir / "model.safetensors").is_file() and not (trial_dir / "eval_report.json").exists()
        history = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
        assert trial.intermediate_values == {row["epoch"]: row["valid_accuracy"] for row in history}


def test_the_first_trial_is_what_train_gives_without_flags(tuned):
    from textrnn.training.config import PRESETS

    run, out = tuned
    first = stored_trials(run)[0]
    sentence = PRESETS["sentence"]  # the texts are short: auto picks it
    assert "trial 0 is the defaults (sentence preset)" in out
    assert first.params == {"lr": sentence["lr"], "dropout": sentence["dropout"],
                            "word_dropout": sentence["word_dropout"], "num_layers": 1, "cell": "lstm",
                            "pooling": sentence["pooling"], "max_length": sentence["max_length"],
                            "batch_size": sentence["batch_size"], "ngrams": sentence["ngrams"]}


def test_best_config_trains_the_best_trial_again(tuned, tmp_path):
    run, out = tuned
    best = max(stored_trials(run), key=lambda trial: trial.value)
    code, _ = run_main(["train", "--config", str(run / "best_config.json"), "--output", str(tmp_path / "best")])
    assert code == 0
    history = [json.loads(line) for line in (tmp_path / "best" / "metrics.jsonl").read_text().splitlines()]
    assert max(row["valid_accuracy"] for row in history) == pytest.approx(best.value, abs=1e-6)
    assert (tmp_path / "best" / "eval_report.json").is_file()  # a normal run: its report on the test split


def copy_study(tuned, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tuned[0] / "study.db", run / "study.db")
    return run


def test_ctrl_c_keeps_the_finished_trials_and_the_same_command_continues(tuned, data, tmp_path, monkeypatch):
    run = copy_study(tuned, tmp_path)
    real_train = textrnn.training.tune.train

    def interrupted_train(config, given, on_epoch, final_evaluation):
        def on_epoch_then_ctrl_c(epoch, row):  # train stops at its next step (or here, at the epoch's end)
            on_epoch(epoch, row)
            os.kill(os.getpid(), signal.SIGINT)

        return real_train(config, given, on_epoch_then_ctrl_c, final_evaluation)

    monkeypatch.setattr(textrnn.training.tune, "train", interrupted_train)
    argv = ["tune", *data_flags(data), *FIXED, "--trials", "2", "--output", str(run)]
    code, out = run_main(argv)
    assert code == 130
    assert "interrupted" in out and " trial  accuracy" in out and (run / "best_config.json").is_file()
    assert [trial.state for trial in stored_trials(run)] == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]

    monkeypatch.setattr(textrnn.training.tune, "train", real_train)
    code, out = run_main(argv[:-4] + ["--trials", "1", "--output", str(run)])
    assert code == 0
    trials = stored_trials(run)
    assert [trial.number for trial in trials] == [0, 1, 2, 3, 4] and trials[4].state == TrialState.COMPLETE
    assert (run / "trials" / "0004" / "model.safetensors").is_file()


def test_a_pruner_stops_a_trial(data, tmp_path):
    fixed = {"train_file": data["train"], "validation_file": data["validation"], "epochs": 2, "embedding_dim": 8,
             "hidden_dim": 8, "progress": False, "device": "cpu"}
    always = optuna.pruners.ThresholdPruner(lower=1.5)  # no accuracy reaches it: pruned after the first epoch
    study, interrupted = tune(fixed, tmp_path / "run", trials=1, search="lr", pruner=always)
    (trial,) = study.trials
    assert not interrupted and trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [1]
    assert not (tmp_path / "run" / "best_config.json").exists()  # no completed trial: nothing is best


def test_settings_that_train_refuses_fail_their_trial_and_the_study_goes_on(data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    study = optuna.create_study(storage=f"sqlite:///{run / 'study.db'}", study_name="textrnn", direction="maximize")
    study.enqueue_trial({"num_layers": 2})  # pre-training refuses 2 bidirectional layers
    study.enqueue_trial({"num_layers": 1})
    code, out = run_main(["tune", *data_flags(data), *FIXED, "--pretrain-epochs", "1", "--search", "num_layers",
                          "--trials", "2", "--output", str(run)])
    assert code == 0
    failed, completed = stored_trials(run)
    assert failed.state == TrialState.FAIL and "pre-training needs" in failed.user_attrs["error"]
    assert completed.state == TrialState.COMPLETE
    assert f"trial 0 failed: {failed.user_attrs['error']}" in out


def test_nan_loss_fails_its_trial_but_a_data_error_stops_the_study(data, tmp_path, monkeypatch, capsys):
    errors = iter([NonFiniteLossError("loss is nan at epoch 1, step 3"), DataError("row 7 of train has no text")])

    def failing_train(config, given, on_epoch, final_evaluation):
        raise next(errors)

    monkeypatch.setattr(textrnn.training.tune, "train", failing_train)
    run = tmp_path / "run"
    assert main(["tune", *data_flags(data), *FIXED, "--trials", "5", "--output", str(run)]) == 2
    assert capsys.readouterr().err.strip().endswith("textrnn tune: error: row 7 of train has no text")
    nan_loss, data_error = stored_trials(run)  # the study stopped at the data error: no third trial
    assert nan_loss.state == data_error.state == TrialState.FAIL
    assert nan_loss.user_attrs["error"] == "loss is nan at epoch 1, step 3" and "error" not in data_error.user_attrs


@pytest.mark.parametrize("flags, message", [
    (["--timeout=-5m"], "--timeout '-5m': give a positive duration"),
    (["--timeout", "0"], "--timeout '0': give a positive duration"),
    (["--timeout", "soon"], "--timeout 'soon'"),
    ([], "give --timeout"),
    (["--trials", "1", "--search", ""], "the search space is empty"),
    (["--trials", "1", "--search", "lr,colour"], "--search: unknown 'colour'"),
    (["--trials", "1", "--search", "hidden_dim"], "--search hidden_dim: also fixed by --hidden-dim"),
    (["--trials", "1", "--storage", "postgresql://nobody@127.0.0.1:1/x"], "cannot open --storage postgresql://"),
    (["--trials", "1", "--storage", "sqlite:///{run}/missing/study.db"], "missing does not exist"),
    (["--trials", "1", "--storage", "study.db"], "--storage 'study.db' is not a database URL"),
    (["--trials", "1", "--train-file", "{other}"], "was made for other data or problem settings"),
    (["--trials", "1", "--metric", "macro_f1"], "metric 'accuracy' there, 'macro_f1' here"),
])
def test_bad_input_is_one_line_and_leaves_the_study_intact(tuned, data, tmp_path, capsys, flags, message):
    run = copy_study(tuned, tmp_path)
    flags = [flag.format(run=run, other=data["other"]) for flag in flags]
    assert main(["tune", *data_flags(data), *FIXED, *flags, "--output", str(run)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("textrnn tune: error: ") and message in error
    assert [trial.state for trial in stored_trials(run)] == [TrialState.COMPLETE] * 3
    assert not (run / "missing").exists() and not (run / "trials").exists()


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("20m", 1200), ("1.5h", 5400), (" .5m ", 30)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-1h", "1d", "", "m", "1.5.2h"])
def test_durations_refused(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_tune_needs_its_output_directory(data, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["tune", *data_flags(data), "--trials", "1"])
    assert stopped.value.code == 2 and "--output" in capsys.readouterr().err


def test_the_help_names_the_search_space(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    assert ", ".join(SEARCH_SPACE) in " ".join(capsys.readouterr().out.split())


def test_train_config_file_with_a_flag_that_wins(data, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"train_file": data["train"], "validation_file": data["validation"], "epochs": 3,
                                  "hidden_dim": 8, "embedding_dim": 8, "lr": 0.01, "progress": False}))
    code, _ = run_main(["train", "--config", str(config), "--epochs", "1", "--output", str(tmp_path / "run")])
    assert code == 0
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["epochs"] == 1 and saved["hidden_dim"] == 8 and saved["lr"] == 0.01
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("content, message", [
    ({"lr": 0.01, "hiden_dim": 8}, "unknown settings 'hiden_dim'"),
    ({"lr": "fast"}, "lr must be float or null, got 'fast'"),
    ({"epochs": True}, "epochs must be int or null, got True"),
    ({"cell": 1}, "cell must be str, got 1"),
    ([1, 2], "must hold one JSON object"),
])
def test_train_config_file_mistakes(tmp_path, capsys, content, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(content))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks for a trial outside optimize
def test_a_defaults_trial_left_running_by_a_crash_is_run_again(data, tmp_path):
    run = tmp_path / "crashed"
    flags = [*data_flags(data), *FIXED, "--search", "lr", "--pruner", "none", "--output", str(run)]
    original_optimize = optuna.Study.optimize

    def crash_in_trial_0(study, *args, **kwargs):  # as kill -9 during the first trial: it stays RUNNING
        study.ask()
        raise SystemExit(137)

    optuna.Study.optimize = crash_in_trial_0
    try:
        with pytest.raises(SystemExit):
            run_main(["tune", *flags, "--trials", "1"])
    finally:
        optuna.Study.optimize = original_optimize
    assert [trial.state for trial in stored_trials(run)] == [TrialState.RUNNING]
    code, out = run_main(["tune", *flags, "--trials", "1"])
    assert code == 0 and "trial 1 is the defaults (sentence preset) again" in out
    from textrnn.training.config import PRESETS

    finished = [trial for trial in stored_trials(run) if trial.state == TrialState.COMPLETE]
    assert [trial.params for trial in finished] == [{"lr": PRESETS["sentence"]["lr"]}]


def test_a_history_of_one_trial_says_so_on_the_plot(tmp_path, monkeypatch, capsys):
    from optuna.distributions import FloatDistribution
    from optuna.visualization import matplotlib as plots

    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.8125, params={"lr": 0.002},
                                              distributions={"lr": FloatDistribution(1e-4, 1e-2, log=True)}))
    drawn, real_plot = [], plots.plot_optimization_history

    def noting_plot(*args, **kwargs):
        drawn.append(real_plot(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(plots, "plot_optimization_history", noting_plot)
    textrnn.training.tune.save_plots(study, tmp_path)
    texts = [text.get_text() for text in drawn[0].texts]
    assert "trial 0: 0.8125" in texts
    assert any(text.startswith("1 completed trial so far: the history shows how the best value improves")
               for text in texts)
    assert (tmp_path / "optimization_history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "param_importances.png: skipped" in capsys.readouterr().out
