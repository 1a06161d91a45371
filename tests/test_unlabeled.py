"""Pre-training on texts without labels (--unlabeled): found, logged, kept out of accuracy, resumable."""

import json
import signal

import pytest
from helpers import TINY_MODEL, make_texts
from datasets import ClassLabel, Dataset, Features, Value

import textrnn.training.checkpoints
import textrnn.checkpoint  # noqa: F401
from textrnn.checkpoint import read_safetensors
from textrnn.training.checkpoints import PRETRAIN_STATE_FILE, STATE_FILE
from textrnn.cli import main
from test_resume import EVERY_STEP, assert_same_results

pytestmark = pytest.mark.slow  # whole training runs

PRETRAIN = ["--pretrain-epochs", "2", "--epochs", "1", "--seed", "3", *TINY_MODEL]


@pytest.fixture(scope="module")
def imdb_like(tmp_path_factory):
    """A data set folder shaped like IMDB's: train and test, and an 'unsupervised' split whose labels are all -1."""
    root = tmp_path_factory.mktemp("imdb-like")
    # as ../shared/data/imdb declares its splits: datasets finds only train/validation/test by file name alone
    (root / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n" + "".join(
        f"  - split: {name}\n    path: {name}.parquet\n" for name in ("train", "test", "unsupervised")) + "---\n")
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    for name, count, seed in (("train", 300, 1), ("test", 100, 2), ("unsupervised", 400, 3)):
        rows = make_texts(count, seed)
        labels = [-1] * count if name == "unsupervised" else [int(label == "pos") for _, label in rows]
        Dataset.from_dict({"text": [text for text, _ in rows], "label": labels}, features=features).to_parquet(
            str(root / f"{name}.parquet"))
    return root


def pretraining_of(run) -> dict:
    return json.loads((run / "config.json").read_text())["pretraining"]


def test_the_unsupervised_split_is_pre_trained_on_by_default_and_never_scored(imdb_like, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(imdb_like), "--output", str(run), *PRETRAIN]) == 0
    printed = capsys.readouterr().out
    assert "pre-training: on the training texts and the 400 texts of the 'unsupervised' split" in printed
    assert pretraining_of(run) == {**pretraining_of(run), "epochs": 2, "texts": 270 + 400,  # train less 10% held out
                                   "unlabeled": "the 'unsupervised' split"}
    report = json.loads((run / "eval_report.json").read_text())
    assert report["num_examples"] == 100  # the test split only
    assert "- Pre-training: 2 epochs as a language model on 670 texts" in (run / "eval_report.md").read_text()
    assert (run / "pretrain_curve.png").stat().st_size > 0
    history = json.loads((run / "pretrain_metrics.json").read_text())
    assert [row["pretrain_epoch"] for row in history] == [1, 2]
    assert all(row["tokens_per_second"] > 0 and row["train_curve"] for row in history)
    assert not (run / "last" / PRETRAIN_STATE_FILE).exists()  # fine-tuning's checkpoint replaced it


def test_none_and_a_text_file(imdb_like, tmp_path):
    assert main(["train", "--dataset", str(imdb_like), "--output", str(tmp_path / "none"), "--unlabeled", "none",
                 *PRETRAIN]) == 0
    assert pretraining_of(tmp_path / "none")["texts"] == 270 and pretraining_of(tmp_path / "none")["unlabeled"] is None
    lines = tmp_path / "more.txt"
    lines.write_text("\n".join(text for text, _ in make_texts(50, 9)) + "\n\n", encoding="utf-8")
    assert main(["train", "--dataset", str(imdb_like), "--output", str(tmp_path / "file"), "--unlabeled", str(lines),
                 *PRETRAIN]) == 0
    assert pretraining_of(tmp_path / "file")["texts"] == 270 + 50  # the empty line is no text


@pytest.mark.parametrize("flags,message", [
    (["--unlabeled", "test", *PRETRAIN], "the test split chooses or scores the model"),
    (["--unlabeled", "nowhere.csv", *PRETRAIN], "--unlabeled nowhere.csv: not a split of the data (it has: "),
    (["--unlabeled", "unsupervised", "--epochs", "1", *TINY_MODEL], "unlabeled texts feed language-model "
                                                                     "pre-training, which is off"),
])
def test_bad_unlabeled_sources_are_clear_errors(flags, message, imdb_like, tmp_path, capsys):
    assert main(["train", "--dataset", str(imdb_like), "--output", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_during_pre_training_resumes_to_the_same_model(imdb_like, tmp_path, monkeypatch, capsys):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", "--dataset", str(imdb_like), "--output", str(straight), *PRETRAIN]) == 0
    real_save, saves = textrnn.training.checkpoints.save_training_state, []

    def save_then_signal(*args, state_file=STATE_FILE, **kwargs):
        real_save(*args, state_file=state_file, **kwargs)
        saves.append(state_file)
        if len(saves) == 3:  # three steps into pre-training
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", save_then_signal)
    assert main(["train", "--dataset", str(imdb_like), "--output", str(stopped), *PRETRAIN, *EVERY_STEP]) == 130
    assert saves == [PRETRAIN_STATE_FILE] * 3
    assert "stopped during pre-training" in capsys.readouterr().out
    state = json.loads(read_safetensors(stopped / "last" / PRETRAIN_STATE_FILE)[1]["trainer_state"])
    assert state["epoch"] == 0 and state["step"] == 3

    monkeypatch.setattr(textrnn.training.checkpoints, "save_training_state", real_save)
    assert main(["train", "--resume", "--output", str(stopped), "--no-progress"]) == 0
    assert "pre-training: resumed in epoch 1 after step 3" in capsys.readouterr().out
    for got, want in zip(*(json.loads((run / "pretrain_metrics.json").read_text()) for run in (stopped, straight))):
        assert got["valid_loss"] == pytest.approx(want["valid_loss"], rel=1e-4)
    assert_same_results(stopped, straight)
