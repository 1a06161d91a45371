"""End to end through the command line's main(), as a user would run it."""

import io
import json

import pytest
from helpers import TINY_MODEL

import textrnn
from textrnn.cli import main


def test_training_writes_the_model_and_its_report(trained_run):
    names = {path.name for path in trained_run.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "train_config.json", "metrics.jsonl",
            "training_curves.png", "eval_report.json", "eval_report.md", "confusion_matrix.png", "roc_curve.png",
            "errors.jsonl", "last"} <= names
    assert not any(path.suffix in (".bin", ".pt", ".pkl") for path in trained_run.rglob("*"))
    report = json.loads((trained_run / "eval_report.json").read_text())
    assert report["num_examples"] == 200 and report["label_names"] == ["neg", "pos"]
    assert report["accuracy"] > 0.9  # chance is 0.5
    history = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert (trained_run / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    settings = json.loads((trained_run / "train_config.json").read_text())
    assert settings["preset"] == "sentence" and settings["max_length"] == 256  # resolved: short texts' preset


def test_evaluate_reproduces_the_training_report(trained_run, sentiment_files, capsys, tmp_path):
    code = main(["evaluate", str(trained_run), "--test-file", str(sentiment_files["test"]), "--output",
                 str(tmp_path / "eval")])
    assert code == 0
    assert "accuracy" in capsys.readouterr().out
    again = json.loads((tmp_path / "eval" / "eval_report.json").read_text())
    assert again["accuracy"] == json.loads((trained_run / "eval_report.json").read_text())["accuracy"]


def stdin_of(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_predict_prints_json_lines(trained_run, capsys, monkeypatch):
    stdin_of(monkeypatch, b"a superb and charming film\na dreadful dull film\n")
    assert main(["predict", str(trained_run), "brilliant", "-", "--top-k", "0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and all(len(ranked) == 2 for ranked in lines)
    assert [ranked[0]["label"] for ranked in lines] == ["pos", "pos", "neg"]


def test_predict_gives_every_odd_but_valid_line_a_prediction(trained_run, capsys, monkeypatch):
    lines = ["\ufeffsuperb", "", "   ", "\x00\x1b[31mawful\x1b[0m", "😀 great 👍🏽", "סרט נהדר مرحبا", "charming\r",
             "great " * 200_000]  # a byte order mark, blank lines, control characters, emoji, RTL, CRLF, 1.2 MB
    stdin_of(monkeypatch, "\n".join(lines).encode("utf-8"))
    assert main(["predict", str(trained_run), "-"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == len(lines) and all(result["label"] in ("neg", "pos") for result in results)
    assert results[0]["label"] == results[6]["label"] == results[7]["label"] == "pos"
    assert results[0] == textrnn.classify_text("superb", str(trained_run))  # the byte order mark is not text


def test_predict_names_the_line_that_is_not_utf8_after_printing_the_lines_before_it(trained_run, capsys,
                                                                                      monkeypatch):
    stdin_of(monkeypatch, b"superb\nawful\ncaf\xe9 au lait\ngreat\n")  # line 3 is Latin-1
    assert main(["predict", str(trained_run), "-"]) == 2
    captured = capsys.readouterr()
    assert [json.loads(line)["label"] for line in captured.out.splitlines()] == ["pos", "neg"]
    assert captured.err.strip() == ("textrnn predict: error: stdin line 3 is not valid UTF-8: byte 0xe9 at byte "
                                    "position 3; convert the input to UTF-8 (iconv -f LATIN1 -t UTF-8, say)")


def test_predict_names_the_argument_that_is_not_utf8(trained_run, capsys):
    import os

    not_utf8 = os.fsdecode(b"caf\xe9")  # how Python passes such an argument on: a lone surrogate
    assert main(["predict", str(trained_run), "great", not_utf8]) == 2
    assert "argument 2 is not valid UTF-8: byte 0xe9" in capsys.readouterr().err


def test_predict_into_a_closed_pipe_stops_quietly(trained_run, monkeypatch, capsys):
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # as `textrnn predict ... | head -1` once head has its line
    with open(write_end, "w") as closed_pipe:
        monkeypatch.setattr("sys.stdout", closed_pipe)
        assert main(["predict", str(trained_run), "great"]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv,message", [
    (["train", "--train-file", "missing.csv", "--output", "{tmp}/run"], "no such file"),
    (["train", "--dataset", "./nowhere", "--output", "{tmp}/run"], "no such dataset directory"),
    (["train", "--train-file", "{train}", "--output", "{tmp}/run", "--epochs", "0"], "epochs must be at least 1"),
    (["train", "--train-file", "{train}", "--output", "{tmp}/run", "--text-column", "body"], "'body' not found"),
    (["train", "--train-file", "{train}", "--validation-file", "{train}", "--output", "{tmp}/run",
      "--validation-size", "0.2"], "--validation-size holds out a share of train when the data has no validation"),
    (["predict", "{tmp}/no-model", "hello"], "no such model directory"),
    (["predict", "{run}"], "no text given"),
    (["predict", "{run}", "hello", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "--train-file", "{train}", "--output", "{train}/run", "--epochs", "1"], "Not a directory"),
    (["evaluate", "{run}", "--test-file", "{train}", "--split", "validation"], "no 'validation' split"),
    (["evaluate", "{run}", "--test-file", "{train}", "--batch-size", "0"], "batch_size must be a positive int, got 0"),
])
def test_user_errors_print_one_line_and_exit_2(argv, message, trained_run, sentiment_files, tmp_path, capsys):
    values = {"tmp": tmp_path, "train": sentiment_files["train"], "run": trained_run}
    assert main([arg.format(**values) for arg in argv]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_an_existing_run_is_not_overwritten_without_force(trained_run, sentiment_files, capsys):
    before = (trained_run / "model.safetensors").read_bytes()
    assert main(["train", "--train-file", str(sentiment_files["train"]), "--output", str(trained_run)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (trained_run / "model.safetensors").read_bytes() == before
    # --force with data that fails to load: the error comes before anything of the earlier run is removed
    assert main(["train", "--train-file", str(sentiment_files["train"]), "--output", str(trained_run), "--force",
                 "--text-column", "body"]) == 2
    assert (trained_run / "model.safetensors").read_bytes() == before


def test_word_vectors_from_a_file_are_the_embedding_table_when_training_starts(sentiment_files, tmp_path, capsys,
                                                                               monkeypatch):
    import torch

    import textrnn.training.train
    from textrnn.tokenizer import load_tokenizer

    vectors = tmp_path / "vectors.txt"
    rows = {"great": [0.5] * 16, "awful": [-0.25] * 16, "zebra": [1.0] * 16}
    vectors.write_text("".join(f"{word} {' '.join(map(str, values))}\n" for word, values in rows.items()))
    tables = []
    real_make_optimizer = textrnn.training.optim.make_optimizer

    def make_optimizer_noting_the_table(params, *args, **kwargs):  # called once the model is built, before step 1
        params = list(params)
        tables.append(params[0].detach().clone())  # embedding.weight comes first
        return real_make_optimizer(params, *args, **kwargs)

    monkeypatch.setattr(textrnn.training.optim, "make_optimizer", make_optimizer_noting_the_table)
    argv = ["train", "--train-file", str(sentiment_files["train"]), "--output", str(tmp_path / "run"),
            "--epochs", "1", "--embeddings", str(vectors), *TINY_MODEL]  # the sentence preset says svd: the file wins
    assert main(argv) == 0
    assert "embeddings: 2 of " in capsys.readouterr().out  # great and awful are in the vocabulary, zebra is not
    tokenizer = load_tokenizer(tmp_path / "run" / "tokenizer.json")
    table = tables[0]
    assert table.shape == (tokenizer.get_vocab_size(), 16)
    for word in ("great", "awful"):
        assert torch.equal(table[tokenizer.token_to_id(word)], torch.tensor(rows[word]))
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["embedding_init"] == "random"

    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    wrong_dimension = [*argv[:-len(TINY_MODEL)], "--force", *TINY_MODEL[2:], "--embedding-dim", "8"]
    assert main(wrong_dimension) == 2
    assert "embedding dimension is 8" in capsys.readouterr().err
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before  # read before the old run is replaced
    assert main([*argv, "--force", "--embedding-init", "svd"]) == 2
    assert "both give the starting embedding table: choose one" in capsys.readouterr().err


@pytest.mark.parametrize("error", [ValueError("shapes [3, 4] and [5] do not match"), TypeError("NoneType is not "
                                   "iterable"), OSError(5, "Input/output error")], ids=["ValueError", "TypeError",
                                                                                          "OSError without a path"])
def test_a_bug_keeps_its_traceback_and_is_not_called_a_user_mistake(error, trained_run, capsys, monkeypatch):
    import textrnn.inference

    def broken_encode(*args, **kwargs):
        raise error

    monkeypatch.setattr(textrnn.inference, "encode_batch", broken_encode)
    assert main(["predict", str(trained_run), "great"]) == 1
    printed = capsys.readouterr().err
    assert "Traceback (most recent call last)" in printed and f"{type(error).__name__}: {error}" in printed
    assert printed.rstrip().endswith("this is a bug in textrnn or a library it uses, not a mistake in your input; "
                                     "please report it with the traceback above")
    assert "error:" not in printed


def test_user_errors_and_bugs_are_told_apart():
    import errno

    from textrnn.cli import is_user_error
    from textrnn.errors import ConfigError, DataError, ModelDirError

    assert all(is_user_error(error) for error in (ConfigError("x"), DataError("x"), ModelDirError("x"),
                                                  FileNotFoundError(errno.ENOENT, "No such file", "a.csv"),
                                                  OSError(errno.ENOSPC, "No space left on device")))
    assert not any(is_user_error(error) for error in (ValueError("x"), TypeError("x"), RuntimeError("x"),
                                                      KeyError("x"), OSError(errno.EIO, "Input/output error")))


BAD_DATA = {  # name: (train.csv rows, test.csv rows, extra flags, the error)
    "null text": ("text,label\n{rows}\n,pos\n", None, [], "train split, row 600: the text in column 'text' is missing"),
    "misnamed label column": ("{train}", None, ["--label-column", "stars"], "label column 'stars' not found; the data "
                              "has columns: text, label"),
    "no text column": ("words,score\n{rows}", None, [], "no text column found among words, score; name it with "
                       "--text-column"),
    "label unseen in training": ("{train}", "text,label\ngreat,pos\nfine,maybe\n", [],
                                 "test split, row 1: label 'maybe' in column 'label' is not one of the labels seen in "
                                 "training ['neg', 'pos']"),
    "empty test split": ("{train}", "text,label\n", [], "test.csv has no rows below its header"),
    "ragged csv": ("text,label\ngood,pos\nbad,neg,extra\n", None, [], "train.csv: could not be read as csv: Error "
                   "tokenizing data. C error: Expected 2 fields in line 3, saw 3"),
    "NaN word vectors": ("{train}", None, ["--embeddings", "{vectors}"],
                         "vectors.txt, line 2: the vector of 'awful' has values that are not finite float32 numbers"),
}


@pytest.mark.parametrize("train,test,flags,message", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_bad_data_is_one_line_naming_it_and_writes_nothing(train, test, flags, message, sentiment_files, tmp_path,
                                                          capfd):
    good_rows = sentiment_files["train"].read_text().split("\n", 1)[1].strip()
    values = {"train": sentiment_files["train"].read_text(), "rows": good_rows, "vectors": tmp_path / "vectors.txt"}
    (tmp_path / "vectors.txt").write_text("great " + " ".join(["0.5"] * 16) + "\nawful " + " ".join(["nan"] * 16))
    (tmp_path / "train.csv").write_text(train.format(**values))
    argv = ["train", "--train-file", str(tmp_path / "train.csv"), "--output", str(tmp_path / "run"),
            *[flag.format(**values) for flag in flags], *TINY_MODEL]
    if test is not None:
        (tmp_path / "test.csv").write_text(test)
        argv += ["--test-file", str(tmp_path / "test.csv")]
    assert main(argv) == 2
    error = capfd.readouterr().err  # capfd: datasets logs to the stderr it found at import, past capsys
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_predict_threshold_keeps_only_the_labels_scoring_at_least_it(trained_run, capsys):
    assert main(["predict", str(trained_run), "great wonderful superb", "--top-k", "0", "--threshold", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [item["label"] for item in result] == ["pos"] and result[0]["score"] >= 0.5
    assert main(["predict", str(trained_run), "great", "--threshold", "1.5"]) == 2
    assert "threshold must be a probability from 0 to 1" in capsys.readouterr().err


def test_the_command_line_parses_its_flags_before_importing_torch():
    # `textrnn --help` and argparse's errors answer at once: the Python API's PyTorch loads only when used
    import subprocess
    import sys

    check = ("import sys, textrnn, textrnn.cli; textrnn.cli.build_parser().parse_args(['train', '--epochs', '2']); "
             "print(sorted({'torch', 'datasets', 'sklearn', 'matplotlib'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
