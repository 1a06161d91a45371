"""textrnn predict --input/--dataset ... --output: every row of a file or split classified, streamed in chunks, and
written atomically; and BatchPredictor, its twin for datasets.Dataset.map (textrnn/predict_files.py)."""

import csv
import io
import json
import pickle
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import TINY_MODEL, make_texts, write_csv

import textrnn
from textrnn.cli import main
from textrnn.predict_files import BatchPredictor, Progress, predict_file

ROWS = make_texts(50, seed=5)
TEXTS = [text for text, _ in ROWS]
IDS = [f"r{i:02d}" for i in range(len(ROWS))]
LONG = 12  # words from which a text is also labelled "long" in the multi-label data


@pytest.fixture(scope="module")
def model(trained_run):
    return textrnn.load(trained_run)


@pytest.fixture(scope="module")
def expected(model):
    return textrnn.classify_text(TEXTS, model)


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    """A tiny multi-label model: each text's sentiment, and "long" for long texts."""
    root = tmp_path_factory.mktemp("predict-multi")
    rows = [(text, label if len(text.split()) < LONG else f"{label}|long") for text, label in make_texts(300, 21)]
    train_csv = write_csv(root / "train.csv", rows, header=("text", "labels"))
    assert main(["train", "--train-file", str(train_csv), "--output", str(root / "run"), "--epochs", "2",
                 "--seed", "0", "--label-separator", "|", *TINY_MODEL]) == 0
    return root / "run"


def write_input(path, texts=TEXTS, ids=IDS, text_column="text"):
    """The texts (and ids) as a file of the format its extension names."""
    records = [{"id": row_id, text_column: text} for row_id, text in zip(ids, texts)]
    kind = path.suffix
    if kind in (".csv", ".tsv"):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ["id", text_column], delimiter="\t" if kind == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(records)
    elif kind == ".jsonl":
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    elif kind == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif kind == ".parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    return path


def read_output(path) -> list[dict]:
    """An output file's rows, lists decoded from csv's JSON text, numbers from csv's strings."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix in (".jsonl", ".json"):
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))
    for row in rows:
        for name, value in row.items():
            if name in ("labels", "scores"):
                row[name] = json.loads(value)
            elif name == "score" or name.startswith("score_"):
                row[name] = float(value)
            elif name == "row":
                row[name] = int(value)
    return rows


def assert_same_predictions(rows: list[dict], expected: list[dict]):
    assert [row["label"] for row in rows] == [result["label"] for result in expected]
    np.testing.assert_allclose([row["score"] for row in rows], [result["score"] for result in expected], atol=1e-6)


def predict(*argv) -> int:
    return main(["predict", *map(str, argv)])


# ----------------------------------------------------------------------------- a file given as a text


def test_a_text_argument_that_names_a_data_file_is_refused_with_the_flag_to_use(trained_run, tmp_path, monkeypatch,
                                                                                capsys):
    monkeypatch.chdir(tmp_path)
    write_input(tmp_path / "valid.csv")
    (tmp_path / "notes.md").write_text("a note", encoding="utf-8")
    assert predict(trained_run, "great", "valid.csv") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "argument 2, 'valid.csv', is a file: to classify its rows give --input valid.csv" in captured.err
    assert "pass it on stdin" in captured.err
    # a file of another kind, or a data file's name that is no file, is still a text
    assert predict(trained_run, "notes.md", "missing.csv") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt"])
def test_every_input_format_gives_the_predictions_of_classify_text(suffix, trained_run, expected, tmp_path):
    source = write_input(tmp_path / f"in{suffix}")
    assert predict(trained_run, "--input", source, "--output", tmp_path / "out.csv", "--chunk-size", 16) == 0
    rows = read_output(tmp_path / "out.csv")
    assert list(rows[0]) == ["row", "label", "score"]
    assert [row["row"] for row in rows] == list(range(len(TEXTS)))
    assert_same_predictions(rows, expected)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_every_output_format_holds_the_same_columns_with_real_or_json_lists(suffix, trained_run, model, tmp_path):
    output = tmp_path / f"out{suffix}"
    assert predict(trained_run, "--input", write_input(tmp_path / "in.parquet"), "--output", output, "--top-k", "2",
                   "--id-column", "id", "--keep-text") == 0
    rows = read_output(output)
    assert list(rows[0]) == ["id", "text", "label", "score", "labels", "scores"]
    assert [row["id"] for row in rows] == IDS and [row["text"] for row in rows] == TEXTS
    ranked = textrnn.classify_text(TEXTS, model, top_k=2)
    assert [row["labels"] for row in rows] == [[item["label"] for item in result] for result in ranked]
    np.testing.assert_allclose([row["scores"] for row in rows],
                               [[item["score"] for item in result] for result in ranked], atol=1e-6)
    assert_same_predictions(rows, [result[0] for result in ranked])
    if suffix in (".csv", ".tsv"):  # a list in a cell is JSON text
        with open(output, newline="", encoding="utf-8") as handle:
            cells = list(csv.reader(handle, delimiter="," if suffix == ".csv" else "\t"))[1]
        assert cells[-2] == json.dumps(rows[0]["labels"]) and cells[-2].startswith('["')
    if suffix == ".parquet":
        schema = pq.read_schema(output)
        assert schema.field("labels").type == pa.list_(pa.string()) and schema.field("score").type == pa.float64()


def test_output_dash_writes_json_lines_to_stdout_and_the_summary_to_stderr(trained_run, expected, tmp_path, capsys):
    assert predict(trained_run, "--input", write_input(tmp_path / "in.jsonl"), "--output", "-") == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert_same_predictions(rows, expected)
    assert captured.err.splitlines() == [line for line in captured.err.splitlines() if line.startswith("textrnn")]
    assert f"{len(TEXTS)} rows of" in captured.err and "texts/s" in captured.err and "\r" not in captured.err


def test_a_multi_label_model_writes_its_labels_and_a_score_per_label(multi_run, tmp_path):
    multi = textrnn.load(multi_run)
    results = textrnn.classify_text(TEXTS, multi)
    for suffix in (".csv", ".parquet"):
        output = tmp_path / f"out{suffix}"
        assert predict(multi_run, "--input", write_input(tmp_path / "in.csv"), "--output", output) == 0
        rows = read_output(output)
        assert list(rows[0]) == ["row", "labels", *(f"score_{label}" for label in multi.labels)]
        assert [row["labels"] for row in rows] == [result["labels"] for result in results]
        for row, result in zip(rows, results):
            for item in result["scores"]:
                assert row[f"score_{item['label']}"] == pytest.approx(item["score"], abs=1e-6)


# ----------------------------------------------------------------------------- streaming


def test_a_chunk_of_7_rows_gives_the_output_of_one_chunk_written_chunk_by_chunk(trained_run, tmp_path):
    for suffix in (".parquet", ".csv", ".txt"):
        source = write_input(tmp_path / f"in{suffix}")
        small, whole = tmp_path / f"small{suffix}.parquet", tmp_path / f"whole{suffix}.parquet"
        assert predict(trained_run, "--input", source, "--output", small, "--chunk-size", 7, "--keep-text") == 0
        assert predict(trained_run, "--input", source, "--output", whole, "--chunk-size", 1000, "--keep-text") == 0
        small_rows, whole_rows = read_output(small), read_output(whole)
        assert [row["text"] for row in small_rows] == TEXTS and [row["row"] for row in small_rows] == list(range(50))
        assert_same_predictions(small_rows, whole_rows)
        assert pq.ParquetFile(small).num_row_groups == 8 and pq.ParquetFile(whole).num_row_groups == 1


def test_the_python_function_streams_a_parquet_file_in_chunks(model, expected, tmp_path, monkeypatch):
    source = write_input(tmp_path / "in.parquet")
    seen = []
    original = pq.ParquetFile.iter_batches

    def iter_batches(self, *args, **kwargs):
        seen.append((kwargs["batch_size"], kwargs["columns"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    summary = predict_file(model, source, tmp_path / "out.jsonl", chunk_size=10, progress=False)
    assert summary["rows"] == 50 and seen == [(10, ["text"])]  # only the text column is read
    assert_same_predictions(read_output(tmp_path / "out.jsonl"), expected)


# ----------------------------------------------------------------------------- columns and data sets


def test_the_text_column_is_found_as_training_finds_it_else_the_models_own(trained_run, expected, tmp_path, capsys):
    assert predict(trained_run, "--input", write_input(tmp_path / "a.csv", text_column="Review"), "-o",
                   tmp_path / "a.csv.out.csv") == 0
    assert_same_predictions(read_output(tmp_path / "a.csv.out.csv"), expected)
    own = tmp_path / "own-model"
    shutil.copytree(trained_run, own)
    config = json.loads((own / "config.json").read_text(encoding="utf-8"))
    (own / "config.json").write_text(json.dumps({**config, "text_column": "blurb"}), encoding="utf-8")
    source = write_input(tmp_path / "b.jsonl", text_column="blurb")
    assert predict(own, "--input", source, "-o", tmp_path / "b.out.csv") == 0
    assert_same_predictions(read_output(tmp_path / "b.out.csv"), expected)
    capsys.readouterr()
    assert predict(trained_run, "--input", source, "-o", tmp_path / "c.out.csv") == 2
    assert "no text column found among id, blurb (nor the model's 'text'); name it with --text-column" in \
        capsys.readouterr().err


def test_a_dataset_split_is_classified_through_load_splits(trained_run, sentiment_files, model, tmp_path):
    output = tmp_path / "test.jsonl"
    assert predict(trained_run, "--dataset", sentiment_files["test"].parent, "--split", "test", "-o", output,
                   "--keep-text") == 0
    rows = read_output(output)
    with open(sentiment_files["test"], newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert [row["text"] for row in rows] == texts
    assert_same_predictions(rows, textrnn.classify_text(texts, model))


# ----------------------------------------------------------------------------- safety


def test_an_existing_output_is_refused_before_any_work_and_replaced_with_force(trained_run, tmp_path, capsys):
    output = tmp_path / "out.csv"
    output.write_text("keep me\n", encoding="utf-8")
    source = write_input(tmp_path / "in.csv")
    assert predict(tmp_path / "no-such-model", "--input", source, "-o", output) == 2  # the output, not the model
    assert capsys.readouterr().err.strip() == (f"textrnn predict: error: --output {output} exists; give --force "
                                               "to replace it")
    assert output.read_text(encoding="utf-8") == "keep me\n"
    assert predict(trained_run, "--input", source, "-o", output, "--force") == 0
    assert len(read_output(output)) == len(TEXTS) and (output.stat().st_mode & 0o777) == 0o644


def test_a_run_that_fails_midway_leaves_no_file(trained_run, tmp_path, capsys):
    texts = [*TEXTS[:30], None, *TEXTS[31:]]
    pq.write_table(pa.table({"text": texts}), tmp_path / "in.parquet")
    assert predict(trained_run, "--input", tmp_path / "in.parquet", "-o", tmp_path / "out.parquet",
                   "--chunk-size", 7) == 2
    assert capsys.readouterr().err.strip() == (f"textrnn predict: error: {tmp_path / 'in.parquet'}, row 30: the text "
                                               "in column 'text' is missing (null); remove or fill that row")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.parquet"]  # no output, no temporary file


def test_an_interrupted_run_leaves_no_file(trained_run, tmp_path, monkeypatch, capsys):
    import textrnn.predict_files as predict_files

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return textrnn.classify_text(*args, **kwargs)

    monkeypatch.setattr(predict_files, "classify_text", interrupted)
    source = write_input(tmp_path / "in.csv")
    assert predict(trained_run, "--input", source, "-o", tmp_path / "out.csv", "--chunk-size", 7) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


BAD_INPUTS = [
    ("missing", ["--input", "{tmp}/missing.csv"], "no such file: {tmp}/missing.csv"),
    ("text column", ["--input", "{csv}", "--text-column", "body"], "{csv}: no column 'body' (--text-column); its "
                                                                    "columns: id, text"),
    ("id column", ["--input", "{csv}", "--id-column", "key"], "no column 'key' (--id-column); its columns: id, text"),
    ("null in json", ["--input", "{null_jsonl}"], "{null_jsonl}, row 1: the text in column 'text' is missing (null)"),
    ("number as text", ["--input", "{number_jsonl}"], "{number_jsonl}, row 0: the text in column 'text' is int, "
                                                      "not text"),
    ("not utf-8", ["--input", "{latin1_csv}"], "{latin1_csv}, line 3 is not valid UTF-8: byte 0xe9 at byte position "
                                               "5; convert the file to UTF-8"),
    ("not json", ["--input", "{broken_jsonl}"], "{broken_jsonl}, line 2: not JSON"),
    ("short row", ["--input", "{short_csv}"], "{short_csv}, line 3: 1 fields where the header has 2"),
    ("output format", ["--input", "{csv}", "-o", "{tmp}/out.xlsx"], "unknown output format '.xlsx'"),
    ("both", ["hello", "--input", "{csv}"], "give texts to classify or --input/--dataset, not both"),
    ("output without input", ["hello", "-o", "{tmp}/out.csv"], "--output is for --input FILE or --dataset D"),
    ("no split", ["--dataset", "{dataset}", "--split", "dev"], "no 'dev' split in"),
    ("split of a file", ["--input", "{csv}", "--split", "train"], "--split is for --dataset D"),
    ("output is input", ["--input", "{csv}", "-o", "{csv}", "--force"], "is the input file"),
]


@pytest.mark.parametrize("argv,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_file_and_row(argv, message, trained_run, sentiment_files, tmp_path,
                                                        capsys):
    files = {"tmp": tmp_path, "csv": write_input(tmp_path / "in.csv"), "dataset": sentiment_files["test"].parent,
             "null_jsonl": tmp_path / "null.jsonl", "number_jsonl": tmp_path / "number.jsonl",
             "latin1_csv": tmp_path / "latin1.csv", "broken_jsonl": tmp_path / "broken.jsonl",
             "short_csv": tmp_path / "short.csv"}
    files["null_jsonl"].write_text('{"text": "great"}\n{"text": null}\n', encoding="utf-8")
    files["number_jsonl"].write_text('{"text": 5}\n', encoding="utf-8")
    files["latin1_csv"].write_bytes(b"id,text\n1,great\n2,caf\xe9 au lait\n")
    files["broken_jsonl"].write_text('{"text": "great"}\n{"text": \n', encoding="utf-8")
    files["short_csv"].write_text("id,text\n1,great\n2\n", encoding="utf-8")
    assert predict(trained_run, *(arg.format(**files) for arg in argv)) == 2
    error = capsys.readouterr().err
    assert message.format(**files) in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


# ----------------------------------------------------------------------------- progress


def test_progress_is_a_plain_line_now_and_then_when_stderr_is_not_a_terminal():
    stream = io.StringIO()  # not a terminal
    progress = Progress(50, stream=stream, every=0.0)
    progress.update(10)
    progress.close()
    assert stream.getvalue().startswith("textrnn predict: 10 of 50 texts, ") and "texts/s" in stream.getvalue()
    quiet = io.StringIO()
    progress = Progress(50, stream=quiet)  # the default: a line every 30 s
    progress.update(10)
    progress.close()
    assert quiet.getvalue() == "" and progress.bar is None


def test_progress_is_a_tqdm_bar_with_texts_per_second_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(50, stream=stream)
    progress.update(10)
    progress.close()
    assert progress.bar is not None and "20%" in stream.getvalue() and "texts/s" in stream.getvalue()


# ----------------------------------------------------------------------------- the Python twin


MAP_IN_PROCESSES = """
import json, sys
from datasets import Dataset
from textrnn.predict_files import BatchPredictor
data = Dataset.from_dict({"id": json.loads(sys.argv[2]), "text": json.loads(sys.argv[3])})
predicted = data.map(BatchPredictor(sys.argv[1]), batched=True, batch_size=8, num_proc=int(sys.argv[4]))
print(json.dumps({"columns": predicted.column_names, "rows": predicted.to_list()}))
"""


@pytest.mark.parametrize("num_proc", [1, 2])
def test_batch_predictor_in_dataset_map_gives_the_predictions_of_classify_text(num_proc, trained_run, expected):
    # A process of its own, as a user's script is, with a time limit: forked workers of a process that has run
    # PyTorch on several threads can hang (OpenMP), and a hang must fail this test, not stop the suite.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MAP_IN_PROCESSES, str(trained_run), json.dumps(IDS),
                           json.dumps(TEXTS), str(num_proc)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    predicted = json.loads(done.stdout.strip().splitlines()[-1])
    assert predicted["columns"] == ["id", "text", "label", "score"]
    assert [row["id"] for row in predicted["rows"]] == IDS
    assert_same_predictions(predicted["rows"], expected)


def test_batch_predictor_pickles_without_its_model_and_takes_pandas_frames(trained_run, expected):
    import pandas

    predictor = BatchPredictor(trained_run, top_k=2, threads=1)
    columns = predictor({"text": TEXTS})
    assert predictor._classifier is not None and list(columns) == ["label", "score", "labels", "scores"]
    copy = pickle.loads(pickle.dumps(predictor))
    assert copy._classifier is None and len(pickle.dumps(predictor)) < 1000  # no weights travel
    again = copy(pandas.DataFrame({"text": TEXTS}))
    assert again["labels"] == columns["labels"]
    assert_same_predictions([{"label": label, "score": score} for label, score in zip(again["label"], again["score"])],
                            expected)


def test_batch_predictor_keeps_the_batch_columns_when_asked_as_ray_and_spark_want(trained_run, expected):
    import pandas

    predictor = BatchPredictor(trained_run, keep_columns=True)
    from_dict = predictor({"id": IDS, "text": TEXTS})
    assert list(from_dict) == ["id", "text", "label", "score"] and from_dict["id"] == IDS
    frame = predictor(pandas.DataFrame({"id": IDS, "text": TEXTS}))
    assert isinstance(frame, pandas.DataFrame) and list(frame.columns) == ["id", "text", "label", "score"]
    assert_same_predictions(frame.to_dict("records"), expected)


def test_a_file_of_no_rows_gives_an_output_of_no_rows_with_every_column(trained_run, tmp_path):
    (tmp_path / "in.csv").write_text("id,text\n", encoding="utf-8")
    assert predict(trained_run, "--input", tmp_path / "in.csv", "-o", tmp_path / "out.parquet", "--top-k", "2") == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 0 and table.column_names == ["row", "label", "score", "labels", "scores"]


def test_sigterm_while_writing_is_an_interrupt_so_the_temporary_file_goes():
    import os
    import signal

    from textrnn.predict_files import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100_000):  # Python runs the handler between bytecodes, soon after the signal
            pass
    assert signal.getsignal(signal.SIGTERM) is before
