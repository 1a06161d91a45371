"""A training run never loses an earlier one to a bad value, a second process, a planted link or a full disk:
every setting is checked where it enters, before anything is deleted or written."""

import errno
import json
import os
import random
import shutil

import pytest
from helpers import TINY_MODEL

from textrnn.cli import is_user_error, main
from textrnn.tokenizer import TokenizerConfig, load_tokenizer, save_tokenizer, train_tokenizer
from textrnn.training.rundir import RunLock

RUN_FILES = ("config.json", "model.safetensors", "tokenizer.json", "eval_report.json")


@pytest.fixture
def earlier_run(trained_run, tmp_path):
    """A copy of a finished run, and its files' bytes, to replace (or not) with --force."""
    run = shutil.copytree(trained_run, tmp_path / "earlier")
    return run, {name: (run / name).read_bytes() for name in RUN_FILES}


def train_argv(sentiment_files, output, *flags) -> list[str]:
    return ["train", "--train-file", str(sentiment_files["train"]), "--output", str(output), "--epochs", "1",
            *TINY_MODEL, *flags]


def assert_one_line_error(capsys, *fragments) -> str:
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1, error
    for fragment in fragments:
        assert fragment in error, error
    return error


def assert_intact(run, files) -> None:
    assert {name: (run / name).read_bytes() for name in RUN_FILES} == files


@pytest.mark.parametrize("flags,message", [
    (["--lr", "nan"], "lr must be a finite number"),
    (["--lr", "inf"], "lr must be a finite number"),
    (["--lr", "-1"], "lr must be above 0"),
    (["--weight-decay", "-1"], "weight_decay must be at least 0"),
    (["--seed", "-1"], "seed must be at least 0"),
    (["--clip", "-1"], "clip must be above 0"),  # would train by gradient ascent
    (["--clip", "0"], "clip must be above 0"),
    (["--vocab-size", str(2**64)], "vocab_size must be at most 10,000,000"),
    (["--ngram-buckets", "100000000000", "--ngrams", "2"], "ngram_buckets must be at most 50,000,000"),
    (["--dropout", "1"], "dropout must be below 1"),
    (["--warmup", "nan"], "warmup must be a finite number"),
    (["--checkpoint-every", "inf"], "checkpoint_every must be a finite number"),
    (["--device", "mps"], "device 'mps' is not supported"),
    (["--device", "meta"], "device 'meta' is not supported"),
])
def test_a_bad_value_with_force_keeps_the_earlier_run(flags, message, earlier_run, sentiment_files, capsys):
    run, files = earlier_run
    assert main(train_argv(sentiment_files, run, "--force", *flags)) == 2
    assert_one_line_error(capsys, message)
    assert_intact(run, files)


def test_a_bad_device_leaves_nothing_behind(sentiment_files, tmp_path, capsys):
    assert main(train_argv(sentiment_files, tmp_path / "new", "--device", "xpu")) == 2
    assert_one_line_error(capsys, "device 'xpu' is not supported")
    assert not (tmp_path / "new").exists()


def test_a_config_file_that_is_not_utf8_is_one_line(sentiment_files, tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_bytes('{"lr": 0.001, "label_separator": "é"}'.encode("latin-1"))
    assert main([*train_argv(sentiment_files, tmp_path / "run"), "--config", str(config)]) == 2
    assert_one_line_error(capsys, "is not a JSON file in UTF-8")


def test_resuming_a_directory_without_training_settings_is_one_line(earlier_run, capsys):
    run, files = earlier_run
    config = json.loads((run / "last" / "config.json").read_text())
    del config["training"]
    (run / "last" / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", "--output", str(run)]) == 2
    assert_one_line_error(capsys, "holds no training settings")
    assert_intact(run, files)


def test_a_second_process_on_the_same_output_is_refused_naming_the_first(earlier_run, sentiment_files, capsys):
    run, files = earlier_run
    with RunLock(run):  # as a `textrnn train` in progress there holds it
        assert main(train_argv(sentiment_files, run, "--force")) == 2
    assert_one_line_error(capsys, "is being written by another textrnn run", f"process {os.getpid()}")
    assert_intact(run, files)
    assert not (run / RunLock.FILE).exists()  # released and removed


def test_the_lock_of_a_finished_run_is_gone_and_a_new_run_takes_it(sentiment_files, tmp_path):
    assert main(train_argv(sentiment_files, tmp_path / "run")) == 0
    assert not (tmp_path / "run" / RunLock.FILE).exists()
    with RunLock(tmp_path / "run"):
        assert (tmp_path / "run" / RunLock.FILE).read_text() == str(os.getpid())


@pytest.mark.parametrize("inside", ["", "runs/one"])
def test_an_output_in_the_data_folder_is_refused(inside, sentiment_files, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sentiment_files["train"], data / "train.csv")
    before = sorted(path.name for path in data.rglob("*"))
    argv = ["train", "--dataset", str(data), "--output", str(data / inside), "--epochs", "1", *TINY_MODEL]
    assert main(argv) == 2
    assert_one_line_error(capsys, "is inside the data set's folder")
    assert sorted(path.name for path in data.rglob("*")) == before


def test_evaluate_does_not_follow_a_link_planted_in_the_model_directory(earlier_run, sentiment_files, tmp_path,
                                                                         capsys):
    run, _ = earlier_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "eval-test").symlink_to(elsewhere, target_is_directory=True)
    assert main(["evaluate", str(run), "--test-file", str(sentiment_files["test"])]) == 2
    assert_one_line_error(capsys, "is a symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_a_run_whose_last_directory_is_a_link_is_refused(earlier_run, sentiment_files, tmp_path, capsys):
    run, files = earlier_run
    elsewhere = shutil.move(run / "last", tmp_path / "elsewhere")
    (run / "last").symlink_to(elsewhere, target_is_directory=True)
    assert main(["train", "--resume", "--output", str(run)]) == 2
    assert_one_line_error(capsys, "is a symbolic link")
    assert main(train_argv(sentiment_files, run, "--force")) == 2
    assert_one_line_error(capsys, "is a symbolic link")
    assert_intact(run, files)


def test_the_tokenizer_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "tokenizer.json"
    save_tokenizer(train_tokenizer(["a good film", "a bad film"], TokenizerConfig(min_freq=1)), path)
    before = path.read_bytes()

    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        save_tokenizer(train_tokenizer(["other words", "entirely"], TokenizerConfig(min_freq=1)), path)
    assert path.read_bytes() == before and load_tokenizer(path).get_vocab_size() > 2
    assert [entry.name for entry in tmp_path.iterdir()] == ["tokenizer.json"]  # no temporary file left


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_file_system_that_cannot_take_a_write_is_the_users_to_fix(code):
    assert is_user_error(OSError(code, os.strerror(code)))  # as libraries raise them, without a file name
    assert not is_user_error(OSError(errno.EINVAL, "Invalid argument"))


# ----------------------------------------------------------------------------- random flags


FUZZED = {  # flag: values, many of them wrong in type or range
    "--lr": ["nan", "inf", "-inf", "0", "-0.1", "1e-3", "abc", "1e400"],
    "--weight-decay": ["-1", "nan", "0", "0.05", "11"],
    "--seed": ["-1", "0", "7", str(2**40), "1.5"],
    "--clip": ["-1", "0", "nan", "1"],
    "--dropout": ["-0.1", "1", "1.5", "0.2", "nan"],
    "--word-dropout": ["-1", "0.99", "1", "0.1"],
    "--vocab-size": ["0", "2", "3", str(2**64), "50"],
    "--max-length": ["0", "-5", "1", "8", str(10**9)],
    "--batch-size": ["0", "-1", "1e3", "8"],
    "--num-layers": ["0", "65", "2"],
    "--warmup": ["1", "-0.5", "0.5", "nan"],
    "--average-decay": ["1", "0.9", "-1"],
    "--ngrams": ["-1", "17", "2"],
    "--ngram-buckets": ["0", "100000000000", "64"],
    "--patience": ["0", "1"],
    "--validation-size": ["0", "1", "0.5", "nan"],
    "--checkpoint-every": ["-1", "inf", "0"],
    "--device": ["mps", "xpu", "meta", "gpu", "cpu"],
    "--pooling": ["", "max+", "mean", "sum"],
}


@pytest.mark.slow
def test_random_flags_over_an_earlier_run_exit_0_or_2_and_never_lose_it(earlier_run, sentiment_files, capsys):
    run, files = earlier_run
    rng = random.Random(0)
    for case in range(25):
        chosen = rng.sample(sorted(FUZZED), k=rng.randint(1, 3))
        flags = [part for flag in chosen for part in (flag, rng.choice(FUZZED[flag]))]
        try:
            code = main(train_argv(sentiment_files, run, "--force", *flags))
        except SystemExit as exit:  # argparse refuses a value that is not of the flag's type
            code = exit.code
        error = capsys.readouterr().err
        assert code in (0, 2), (flags, error)
        assert "Traceback" not in error, (flags, error)
        if code == 0:  # the run was replaced by a whole new one: it is the one to keep from now on
            files = {name: (run / name).read_bytes() for name in RUN_FILES}
        assert_intact(run, files)
