import json
import re
import time

import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from textrnn.data import encode_split, load_splits, prepare_data, prepare_split
from textrnn.errors import DataError
from textrnn.tokenizer import TokenizerConfig, encode_batch, train_tokenizer

ROWS = [{"review": f"text number {i} {'good' if i % 2 else 'bad'}", "sentiment": "pos" if i % 2 else "neg"}
        for i in range(40)]


def write_rows(path, rows):
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        separator = "\t" if suffix == ".tsv" else ","
        lines = [separator.join(rows[0])] + [separator.join(str(v) for v in row.values()) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        Dataset.from_list(rows).to_parquet(str(path))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_file_format_loads_and_columns_are_detected(tmp_path, suffix):
    raw = load_splits(train_file=write_rows(tmp_path / f"train{suffix}", ROWS))
    data = prepare_data(raw, seed=0)
    assert (data.text_column, data.label_column) == ("review", "sentiment")
    assert data.label_names == ["neg", "pos"]
    assert len(data.train) + len(data.validation) == 40
    assert data.test is None
    row = data.train[0]
    assert isinstance(row["text"], str) and row["label"] in (0, 1)


def test_a_carved_validation_split_is_stratified_and_seeded():
    raw = DatasetDict({"train": Dataset.from_list(ROWS)})
    first, again = prepare_data(raw, validation_size=0.2, seed=3), prepare_data(raw, validation_size=0.2, seed=3)
    assert sorted(first.validation["label"]) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert first.validation["text"] == again.validation["text"]
    assert prepare_data(raw, validation_size=0.2, seed=4).validation["text"] != first.validation["text"]


def test_class_label_names_and_unlabelled_test_splits():
    features_rows = {"sentence": ["good", "bad", "fine", "awful"], "label": [1, 0, 1, 0]}
    labelled = Dataset.from_dict(features_rows).cast_column("label", ClassLabel(names=["negative", "positive"]))
    unlabelled = Dataset.from_dict({"sentence": ["x", "y"], "label": [-1, -1]}).cast_column(
        "label", ClassLabel(names=["negative", "positive"]))
    raw = DatasetDict({"train": labelled, "validation": labelled, "test": unlabelled})
    data = prepare_data(raw)
    assert data.label_names == ["negative", "positive"]
    assert data.test is None  # GLUE-style -1 labels: nothing to evaluate against
    with pytest.raises(DataError, match="no labels"):
        prepare_split(raw, "test", None, None, data.label_names)


def test_numeric_labels_sort_numerically():
    raw = DatasetDict({"train": Dataset.from_dict({"text": list("abcdefgh"), "label": [10, 2, 2, 10, 2, 10, 2, 10]})})
    assert prepare_data(raw).label_names == ["2", "10"]


def test_labels_map_by_name_onto_a_models_labels():
    raw = DatasetDict({"test": Dataset.from_dict({"text": ["a", "b"], "label": ["pos", "neg"]})})
    split = prepare_split(raw, "test", None, None, ["neg", "pos"])
    assert split["label"] == [1, 0]
    with pytest.raises(DataError, match="test split, row 0: label 'maybe' in column 'label' is not one of the labels "
                                         r"seen in training \['neg', 'pos'\]"):
        raw = DatasetDict({"test": Dataset.from_dict({"text": ["a"], "label": ["maybe"]})})
        prepare_split(raw, "test", None, None, ["neg", "pos"])


def test_column_errors_name_the_columns():
    raw = DatasetDict({"train": Dataset.from_dict({"words": list("abcd"), "label": [0, 1] * 2})})
    with pytest.raises(DataError, match="no text column found among words, label; name it with --text-column"):
        prepare_data(raw)
    with pytest.raises(DataError, match="text column 'body' not found.*words, label"):
        prepare_data(raw, text_column="body")
    assert prepare_data(DatasetDict({"train": Dataset.from_dict({"words": list("abcdefghij"), "label": [0, 1] * 5})}),
                        text_column="words").text_column == "words"


def test_too_little_data_for_a_validation_split_is_a_clear_error():
    raw = DatasetDict({"train": Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 1]})})
    with pytest.raises(DataError, match="cannot hold out a stratified validation split from 3 training texts"):
        prepare_data(raw)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_splits(train_file=tmp_path / "absent.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_splits(train_file=tmp_path / "data.xlsx")
    with pytest.raises(DataError, match="no such dataset directory"):
        load_splits("./does/not/exist")


def test_an_unreachable_hub_fails_fast_with_a_way_out(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(DataError, match="cannot reach the Hugging Face hub.*--train-file"):
        load_splits("stanfordnlp/imdb")
    assert time.monotonic() - started < 10


def test_encode_split_matches_encode_batch():
    tokenizer = train_tokenizer([row["review"] for row in ROWS], TokenizerConfig(min_freq=1))
    data = prepare_data(DatasetDict({"train": Dataset.from_list(ROWS)}))
    split = data.train
    encoded = encode_split(split, tokenizer, None, data.task)
    expected = encode_batch(tokenizer, split["text"])
    assert len(encoded) == len(split)
    assert [encoded[i][0].tolist() for i in range(len(split))] == expected
    assert encoded.lengths.tolist() == [len(ids) for ids in expected]
    assert [encoded[i][1] for i in range(len(split))] == split["label"]


def test_a_local_dataset_directory_loads_and_a_broken_one_is_a_clear_error(tmp_path):
    Dataset.from_list(ROWS).to_parquet(str(tmp_path / "train.parquet"))
    assert len(load_splits(str(tmp_path))["train"]) == 40
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="could not load dataset"):
        load_splits(str(tmp_path / "empty"))


def texts(count: int) -> list[str]:
    return [f"text number {i}" for i in range(count)]


@pytest.mark.parametrize("rows,message", [
    ({"text": [*texts(9), None], "label": [0, 1] * 5}, "train split, row 9: the text in column 'text' is missing"),
    ({"text": [*texts(4), "", *texts(5)], "label": [0, 1] * 5}, "row 4: the text in column 'text' is empty"),
    ({"text": [*texts(2), " \n\t", *texts(7)], "label": [0, 1] * 5}, "row 2: the text in column 'text' is empty"),
    ({"text": list(range(10)), "label": [0, 1] * 5}, "train split, row 0: column 'text' holds int, not text"),
    ({"text": texts(10), "label": [0, 1, None, *[0, 1] * 3, 1]}, "train split, row 2: no label (empty or null)"),
    ({"text": texts(10), "label": ["pos"] * 10}, "the train split has a single label, 'pos', in column 'label'"),
])
def test_bad_rows_are_named(rows, message):
    with pytest.raises(DataError, match=re.escape(message)):
        prepare_data(DatasetDict({"train": Dataset.from_dict(rows)}))


def test_labels_of_other_splits_must_occur_in_training():
    names = ClassLabel(names=["world", "sports", "business"])
    train = Dataset.from_dict({"text": texts(10), "label": [0, 1] * 5}).cast_column("label", names)
    test = Dataset.from_dict({"text": texts(3), "label": [1, 2, 2]}).cast_column("label", names)
    with pytest.raises(DataError, match=re.escape("test split, row 1: label 'business' in column 'label' never occurs "
                                                  "in the train split, so the model cannot learn it (2 of the test "
                                                  "split's 3 rows have such labels)")):
        prepare_data(DatasetDict({"train": train, "test": test}))
    plain = DatasetDict({"train": Dataset.from_dict({"text": texts(10), "label": [0, 1] * 5}),
                         "validation": Dataset.from_dict({"text": texts(2), "label": [1, 7]})})
    with pytest.raises(DataError, match="validation split, row 1: label 7 .* not one of the labels seen in training"):
        prepare_data(plain)
    # datasets casts without checking the range, as a parquet file's label metadata can disagree with its values
    out_of_range = Dataset.from_dict({"text": texts(4), "label": [0, 1, 2, 5]}).cast_column("label", names)
    with pytest.raises(DataError, match=re.escape("train split, row 3: label 5 in column 'label' is out of range for "
                                                  "its 3 classes ['world', 'sports', 'business']")):
        prepare_data(DatasetDict({"train": out_of_range}))


def test_integer_labels_with_a_missing_value_keep_integer_names(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(10)))
    assert prepare_data(load_splits(train_file=path)).label_names == ["0", "1"]
    floats = DatasetDict({"train": Dataset.from_dict({"text": texts(10), "label": [0.0, 1.0] * 5})})
    assert prepare_data(floats).label_names == ["0", "1"]  # as pandas reads 0/1 once one label is missing


@pytest.mark.parametrize("name,content,message", [
    ("train.csv", b"", "train.csv is empty"),
    ("train.csv", b"text,label\n", "train.csv has no rows below its header"),
    ("train.csv", "PARQUET", "train.csv is a parquet file, not csv text; rename it to .parquet"),
    ("train.jsonl", b"\x1f\x8b\x08\x00\x00", "train.jsonl is gzip-compressed, not json text"),
    ("train.csv", "text,label\ngood,1\n".encode("utf-16"), "train.csv is not csv text: it holds NUL bytes"),
    ("train.parquet", b"text,label\ngood,1\n", "train.parquet is not a parquet file (it starts with b'text,label"),
    ("train.csv", "text,label\ncaf\xe9,1\nok,0\n".encode("latin-1"),
     "train.csv: could not be read as csv: 'utf-8' codec can't decode byte 0xe9"),
    ("train.csv", b"text,label\na,1\nb,0,extra\n",
     "train.csv: could not be read as csv: Error tokenizing data. C error: Expected 2 fields in line 3, saw 3"),
    ("train.json", b"{not json", "train.json: could not be read as json: JSON parse error"),
])
def test_a_file_that_is_not_what_its_extension_says_is_named(tmp_path, name, content, message):
    if content == "PARQUET":
        Dataset.from_list(ROWS).to_parquet(str(tmp_path / "real.parquet"))
        content = (tmp_path / "real.parquet").read_bytes()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)):
        load_splits(train_file=tmp_path / name)


def test_a_label_column_beside_another_named_label(tmp_path):
    """--label-column category where a "label" column exists too: the category's names, not the label's."""
    sentiment = ClassLabel(names=["negative", "positive"])
    topics = ClassLabel(names=["books", "fruit", "phones"])
    train = Dataset.from_dict({"text": texts(12), "label": [0, 1] * 6, "category": [0, 1, 2] * 4})
    train = train.cast_column("label", sentiment).cast_column("category", topics)
    data = prepare_data(DatasetDict({"train": train}), label_column="category", validation_size=0.25)
    assert data.label_names == ["books", "fruit", "phones"]
    assert sorted(list(data.train["label"]) + list(data.validation["label"])) == sorted([0, 1, 2] * 4)


# ----------------------------------------------------------------------------- label columns that are not labels


def train_of(labels, **columns) -> DatasetDict:
    return DatasetDict({"train": Dataset.from_dict({"text": texts(len(labels)), "label": labels, **columns})})


def test_a_regression_target_is_refused_with_a_hint():
    scores = [(i + 0.5) / 300 for i in range(300)]  # 0.00167, 0.005, ...
    with pytest.raises(DataError, match=r"train split: column 'label' holds 300 different numbers with a fraction "
                                        r"\(0.00166.*\): this looks like a regression target, not labels; is 'label' "
                                        r"the label column\? name it with --label-column; .*--problem-type single"):
        prepare_data(train_of(scores))
    # Half-star ratings are classes; so are whole numbers read as floats.
    stars = [0.5 * (1 + i % 10) for i in range(100)]
    assert prepare_data(train_of(stars)).label_names == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]


def test_more_labels_than_half_the_rows_is_refused_but_tiny_data_sets_pass():
    ids = [i // 3 * 3 for i in range(60)] + list(range(1000, 1100))  # 120 labels in 160 rows
    with pytest.raises(DataError, match=re.escape("train split: column 'label' holds 120 different labels in 160 "
                                                  "rows ('0', '3', '6', ...), too few texts per label")):
        prepare_data(train_of(ids))
    with pytest.raises(DataError, match="--label-column"):
        prepare_data(train_of(ids), label_column="label")  # naming the column is no override: --problem-type is
    tiny = train_of([f"class {i % 10}" for i in range(20)])  # 20 rows, 10 classes: a smoke test, not a mistake
    assert len(prepare_data(tiny, validation_size=0.5).label_names) == 10
    validation = Dataset.from_dict({"text": texts(2), "label": [ids[0], ids[-1]]})
    forced = prepare_data(DatasetDict({**train_of(ids), "validation": validation}), problem_type="single")
    assert len(forced.label_names) == 120


def test_joined_label_lists_in_a_single_label_column_are_refused():
    labels = ["news", "sport", "news|sport", "weather", "sport | weather"] * 4
    with pytest.raises(DataError, match=re.escape("train split, row 2: column 'label' holds 'news|sport', labels of "
                                                  "other rows joined by '|' (2 labels are such joins), so each "
                                                  "combination would be a class of its own; pass "
                                                  "--label-separator '|'")):
        prepare_data(train_of(labels))
    assert len(prepare_data(train_of(labels), problem_type="single").label_names) == 5
    assert prepare_data(train_of(labels), label_separator="|").label_names == ["news", "sport", "weather"]


def test_ordinary_labels_with_commas_or_spaces_are_not_taken_for_joined_lists():
    labels = ["very positive", "positive", "1,000+", "1", "0; none", "none", "a,b"] * 4
    assert len(prepare_data(train_of(labels)).label_names) == 7


def test_nested_label_columns_name_the_column_and_the_accepted_shapes(tmp_path):
    accepted = "a label is a name or a number per row, a list of them per row (multi-label)"
    struct = write_rows(tmp_path / "struct.parquet", [{"text": f"t {i}", "label": {"id": i % 2, "name": "x"}}
                                                      for i in range(10)])
    with pytest.raises(DataError, match=re.escape("train split, row 0: column 'label' holds a struct {'id': 0, "
                                                  f"'name': 'x'}}, not a label; {accepted}")):
        prepare_data(load_splits(train_file=struct))
    with pytest.raises(DataError, match=re.escape("train split, row 0: column 'label' holds a struct")):
        prepare_data(load_splits(train_file=struct), problem_type="multi")
    nested = write_rows(tmp_path / "nested.parquet", [{"text": f"t {i}", "label": [["a"], ["b"]]} for i in range(10)])
    for problem_type in ("auto", "single"):
        with pytest.raises(DataError, match=re.escape("train split, row 0: column 'label' holds a list inside a list "
                                                      f"(['a']); {accepted}")):
            prepare_data(load_splits(train_file=nested), problem_type=problem_type)


@pytest.mark.parametrize("labels, message", [
    ([b"pos", b"neg"] * 5, "train split, row 0: column 'label' holds bytes (b'pos'), not label names"),
    (["pos", "neg", "", "pos"] * 3, "train split, row 2: column 'label' holds an empty label name ('')"),
    (["pos", "neg", " ", "pos"] * 3, "train split, row 2: column 'label' holds an empty label name (' ')"),
    ([0.0, 1.0, float("nan"), 1.0] * 3, "train split, row 2: no label (NaN) in column 'label'"),
    ([0.0, 1.0, float("inf"), 1.0] * 3, "train split, row 2: column 'label' holds inf, not a label"),
    ([["a", None], ["b"]] * 5, "train split, row 0: column 'label' holds a null label inside its list"),
    ([["a"], ["b", ""]] * 5, "train split, row 1: column 'label' holds an empty label name ('')"),
    ([[{"x": 1}], [{"x": 2}]] * 5, "train split, row 0: column 'label' holds a struct {'x': 1}, not a label"),
])
def test_values_that_are_no_label_are_named(labels, message):
    with pytest.raises(DataError, match=re.escape(message)):
        prepare_data(train_of(labels))


def test_odd_values_in_other_splits_are_named_and_bool_labels_are_two_classes():
    assert prepare_data(train_of([True, False] * 5)).label_names == ["False", "True"]
    raw = DatasetDict({**train_of(["pos", "neg"] * 5), "test": Dataset.from_dict({"text": texts(2),
                                                                                 "label": ["pos", ""]})})
    with pytest.raises(DataError, match=re.escape("test split, row 1: column 'label' holds an empty label name")):
        prepare_data(raw)
