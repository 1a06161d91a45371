"""Multi-label data: every input shape, training and reloading a model, its report, and every bad input."""

import json
import random
import re

import numpy as np
import pytest
from helpers import TINY_MODEL, write_csv
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

import textrnn
from textrnn.cli import main
from textrnn.data import prepare_data
from textrnn.errors import ConfigError, DataError
from textrnn.metrics import multi_label_metrics, subset_accuracy_and_macro_f1, tune_thresholds

TOPICS = {"weather": ["sunny", "rain", "storm"], "sport": ["goal", "match", "team"], "politics": ["vote", "senate"]}
FILLER = "the a of it was and then there some more words here today".split()


def make_rows(count: int, seed: int) -> list[tuple[str, list[str]]]:
    """(text, labels): filler with the keywords of each topic a text is about; some texts have none, many two."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        labels = [topic for topic in TOPICS if rng.random() < 0.4]
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        for topic in labels:
            words.insert(rng.randint(0, len(words)), rng.choice(TOPICS[topic]))
        rows.append((" ".join(words), labels))
    return rows


def texts_and_lists(rows):
    return [text for text, _ in rows], [labels for _, labels in rows]


@pytest.fixture(scope="module")
def multi_label_run(tmp_path_factory):
    """A tiny multi-label model trained from a '|'-separated label column."""
    root = tmp_path_factory.mktemp("multi")
    train = write_csv(root / "train.csv", [(text, "|".join(labels)) for text, labels in make_rows(600, seed=1)],
                      header=("text", "topics"))
    test = write_csv(root / "test.csv", [(text, "|".join(labels)) for text, labels in make_rows(200, seed=2)],
                     header=("text", "topics"))
    output = root / "run"
    code = main(["train", "--train-file", str(train), "--test-file", str(test), "--label-column", "topics",
                 "--label-separator", "|", "--output", str(output), "--epochs", "6", "--seed", "0", *TINY_MODEL])
    assert code == 0
    return {"output": output, "test": test}


# ----------------------------------------------------------------------------- input shapes


def test_a_sequence_of_class_labels_is_found_on_its_own():
    texts, lists = texts_and_lists(make_rows(40, seed=3))
    names = list(TOPICS)
    features = Features({"text": Value("string"), "labels": Sequence(ClassLabel(names=names))})
    ids = [[names.index(label) for label in labels] for labels in lists]
    data = prepare_data(DatasetDict({"train": Dataset.from_dict({"text": texts, "labels": ids}, features=features)}))
    assert data.problem_type == "multi" and data.label_names == names
    every_row = sorted(tuple(labels) for labels in list(data.train["label"]) + list(data.validation["label"]))
    assert sorted(tuple(sorted(names.index(label) for label in labels)) for labels in lists) == every_row


@pytest.mark.parametrize("values", [
    lambda labels: labels,  # lists of strings
    lambda labels: [["weather", "sport", "politics"].index(label) for label in labels],  # lists of ints
])
def test_lists_of_strings_or_ints_are_found_on_their_own(values):
    texts, lists = texts_and_lists(make_rows(40, seed=4))
    raw = DatasetDict({"train": Dataset.from_dict({"text": texts, "label": [values(labels) for labels in lists]})})
    data = prepare_data(raw)
    assert data.problem_type == "multi" and len(data.label_names) == 3


def test_a_text_with_no_label_is_valid(tmp_path):
    rows = [("sunny goal", "weather,sport"), ("nothing here", ""), ("vote now", "politics")] * 4
    data = prepare_data(DatasetDict({"train": Dataset.from_dict({"text": [t for t, _ in rows],
                                                                 "label": [l for _, l in rows]})}),
                        label_separator=",")
    assert [] in list(data.train["label"]) + list(data.validation["label"])


def test_zero_one_columns():
    rows = make_rows(30, seed=5)
    columns = {topic: [int(topic in labels) for _, labels in rows] for topic in TOPICS}
    raw = DatasetDict({"train": Dataset.from_dict({"text": [text for text, _ in rows], **columns})})
    data = prepare_data(raw, label_columns=["sport", "weather", "politics"], validation_size=0.2)
    assert data.problem_type == "multi" and data.label_names == ["politics", "sport", "weather"]
    assert data.label_columns == ["sport", "weather", "politics"]


def test_problem_type_single_reads_one_element_lists_and_multi_reads_scalars():
    raw = DatasetDict({"train": Dataset.from_dict({"text": ["a b", "c d"] * 5, "label": [["x"], ["y"]] * 5})})
    assert prepare_data(raw, problem_type="single").problem_type == "single"
    scalars = DatasetDict({"train": Dataset.from_dict({"text": ["a b", "c d"] * 5, "label": ["x", "y"] * 5})})
    data = prepare_data(scalars, problem_type="multi")
    assert data.problem_type == "multi" and all(len(labels) == 1 for labels in data.train["label"])
    declared = scalars["train"].cast_column("label", ClassLabel(names=["x", "y"]))
    assert prepare_data(DatasetDict({"train": declared}), problem_type="multi").label_names == ["x", "y"]


# ----------------------------------------------------------------------------- bad input


def raw_of(labels, text=None):
    return DatasetDict({"train": Dataset.from_dict({"text": text or [f"t{i} w" for i in range(len(labels))],
                                                    "label": labels})})


@pytest.mark.parametrize("make, options, error, message", [
    (lambda: raw_of([["x", "y"], ["x"]] * 5), {"problem_type": "single"}, DataError,
     "train split, row 0: 2 labels ['x', 'y'] in column 'label', but --problem-type single needs exactly one"),
    (lambda: raw_of(["x,y", "x,,y"] * 5), {"label_separator": ","}, DataError,
     "train split, row 1: 'x,,y' in column 'label' has an empty label name between separators ','"),
    (lambda: raw_of(["x,y"] * 10), {"label_separator": ",", "problem_type": "single"}, ConfigError,
     "--problem-type single reads one label per text, but --label-separator reads several"),
])
def test_bad_label_shapes_name_the_row_and_column(make, options, error, message):
    with pytest.raises(error, match=re.escape(message)):
        prepare_data(make(), **options)


def test_a_separator_that_never_occurs_is_refused_and_names_the_one_used():
    labels = ["news|sport", "news", "sport|weather", "weather"] * 3
    with pytest.raises(DataError, match=re.escape("train split: --label-separator '||' never occurs in column 'label', "
                                                  "so every text would have one label; a value: 'news|sport' (it holds "
                                                  "'|': --label-separator '|'?)")):
        prepare_data(raw_of(labels), label_separator="||")
    with pytest.raises(DataError, match=re.escape("never occurs in column 'label', so every text would have one label; "
                                                  "a value: 'news'. Give the separator")):
        prepare_data(raw_of(["news", "sport"] * 5), label_separator=",")
    assert prepare_data(raw_of(labels), label_separator="|").label_names == ["news", "sport", "weather"]


def test_a_list_column_mixed_with_scalars_is_named(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "a b", "labels": ["x"]}\n{"text": "c d", "labels": "y"}\n' * 5)
    assert main(["train", "--train-file", str(path), "--output", str(tmp_path / "run"), *TINY_MODEL]) == 2
    assert ("train split, row 1: column 'labels' holds a single str ('y') where the other rows hold lists of labels"
            in capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_bad_zero_one_columns_are_named():
    raw = DatasetDict({"train": Dataset.from_dict({"text": ["a", "b"] * 5, "x": [0, 1] * 5, "y": [1, 2] * 5})})
    with pytest.raises(DataError, match=re.escape("--label-columns: 'z' not found in the train split")):
        prepare_data(raw, label_columns=["x", "z"])
    with pytest.raises(DataError, match=re.escape("train split, row 1: column 'y' holds 2, but each of "
                                                  "--label-columns must hold 0 or 1")):
        prepare_data(raw, label_columns=["x", "y"])


def test_a_label_unseen_in_training_is_named(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("sunny day", "weather"), ("goal", "sport")] * 5)
    validation = write_csv(tmp_path / "valid.csv", [("sunny", "weather"), ("vote", "politics")])
    with pytest.raises(DataError, match=re.escape("validation split, row 1: label 'politics' in column 'label' is "
                                                  "not one of the labels seen in training")):
        prepare_data(textrnn.data.load_splits(train_file=train, validation_file=validation))
    code = main(["train", "--train-file", str(train), "--validation-file", str(validation), "--output",
                 str(tmp_path / "run"), *TINY_MODEL])
    assert code == 2 and not (tmp_path / "run").exists()  # nothing written


def test_weightings_refuse_the_other_problem_type(tmp_path, capsys):
    single = write_csv(tmp_path / "single.csv", [("sunny day", "weather"), ("goal", "sport")] * 10)
    code = main(["train", "--train-file", str(single), "--pos-weight", "balanced", "--output", str(tmp_path / "a"),
                 *TINY_MODEL])
    assert code == 2 and "--pos-weight weights each label's positives in multi-label data" in capsys.readouterr().err
    multi = write_csv(tmp_path / "multi.csv", [("sunny goal", "weather,sport"), ("goal", "sport")] * 10)
    code = main(["train", "--train-file", str(multi), "--label-separator", ",", "--class-weight", "balanced",
                 "--output", str(tmp_path / "b"), *TINY_MODEL])
    assert code == 2 and "for multi-label data use --pos-weight balanced" in capsys.readouterr().err


# ----------------------------------------------------------------------------- thresholds


def test_thresholds_maximise_each_labels_f1_and_rare_labels_take_the_global_one():
    rng = np.random.default_rng(0)
    targets = np.zeros((400, 3), dtype=np.float32)
    targets[:200, 0] = 1  # label 0: positives score about 0.3, negatives about 0.1
    targets[:100, 1] = 1  # label 1: positives about 0.8, negatives about 0.5
    targets[:2, 2] = 1  # label 2: too rare to tune
    probs = np.column_stack([np.where(targets[:, 0] == 1, 0.3, 0.1), np.where(targets[:, 1] == 1, 0.8, 0.5),
                             np.full(400, 0.05)]) + rng.uniform(-0.04, 0.04, (400, 3))
    thresholds, global_threshold = tune_thresholds(targets, probs)
    assert 0.14 <= thresholds[0] <= 0.26 and 0.54 <= thresholds[1] <= 0.76
    assert thresholds[2] == global_threshold


# ----------------------------------------------------------------------------- training, saving, reloading


def test_a_multi_label_model_learns_and_reloads(multi_label_run):
    output = multi_label_run["output"]
    config = json.loads((output / "config.json").read_text())
    assert config["problem_type"] == "multi" and config["label_separator"] == "|"
    assert len(config["thresholds"]) == 3 and config["labels"] == ["politics", "sport", "weather"]
    report = json.loads((output / "eval_report.json").read_text())
    assert report["macro_f1"] > 0.8 and report["micro_f1"] > 0.8  # keywords decide the labels
    for key in ("samples_f1", "subset_accuracy", "hamming_loss"):
        assert key in report
    assert set(report["per_label"]["sport"]) == {"precision", "recall", "f1", "support"}
    assert (output / "per_label.png").read_bytes()[:4] == b"\x89PNG"
    settings = json.loads((output / "train_config.json").read_text())
    assert settings["metric"] == "macro_f1"  # early stopping on macro-F1 unless asked otherwise
    assert settings["pos_weight"] == "balanced"  # auto's choice for multi-label data

    classifier = textrnn.load(output)
    result = textrnn.classify_text("it was sunny and then the team scored a goal", classifier)
    assert set(result) == {"labels", "scores"} and set(result["labels"]) == {"weather", "sport"}
    assert [entry["label"] for entry in result["scores"]][:2] == result["labels"]
    assert len(result["scores"]) == 3  # every label's score
    assert len(textrnn.classify_text("vote", classifier, top_k=1)["scores"]) == 1
    probs = classifier.predict_proba(["sunny goal vote"])
    assert probs.shape == (1, 3) and probs.sum() > 1.5  # independent sigmoids, not a softmax


def test_evaluate_and_predict_give_the_same_for_multi_label(multi_label_run, tmp_path, capsys):
    output = multi_label_run["output"]
    code = main(["evaluate", str(output), "--test-file", str(multi_label_run["test"]), "--output", str(tmp_path)])
    assert code == 0 and "macro-F1" in capsys.readouterr().out
    again = json.loads((tmp_path / "eval_report.json").read_text())
    assert again["macro_f1"] == json.loads((output / "eval_report.json").read_text())["macro_f1"]
    assert main(["predict", str(output), "a storm and a match"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["labels"]) == {"weather", "sport"}


def test_every_passing_label_comes_with_its_score_whatever_top_k():
    from textrnn.tasks import make_task

    # a low-scoring label with a lower threshold passes while higher-scoring ones do not
    task = make_task("multi", ["a", "b", "c", "d"], thresholds=[0.9, 0.9, 0.9, 0.1])
    result, = task.format_results(np.array([[0.8, 0.7, 0.6, 0.2]], dtype=np.float32), top_k=2)
    assert result["labels"] == ["d"]
    assert [item["label"] for item in result["scores"]] == ["a", "b", "d"]  # the top 2, and the decision's score


def test_a_threshold_picks_the_labels_as_fasttext_predict_prob_does():
    from textrnn.tasks import make_task

    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]], dtype=np.float32)
    single = make_task("single", ["x", "y", "z"])
    assert single.format_results(probs, top_k=None, threshold=0.3) == [
        [{"label": "x", "score": pytest.approx(0.7)}], [{"label": "x", "score": pytest.approx(0.4)},
                                                         {"label": "y", "score": pytest.approx(0.35)}]]
    assert single.format_results(probs, threshold=0.5)[1] == []  # top_k 1, below the threshold: nothing
    multi = make_task("multi", ["x", "y", "z"], thresholds=[0.9, 0.9, 0.9])
    assert [row["labels"] for row in multi.format_results(probs, threshold=0.3)] == [["x"], ["x", "y"]]


def test_the_validation_metrics_shortcut_gives_the_reports_figures_to_the_bit():
    """The linear model's share and the best epoch are chosen on subset_accuracy_and_macro_f1, the report's are
    multi_label_metrics': the same numbers, rare and absent labels included (an absent one's F1 is 0)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows, labels = rng.integers(5, 300), rng.integers(2, 30)
        targets = rng.random((rows, labels)) < rng.random(labels) * 0.3
        predicted = rng.random((rows, labels)) < rng.random(labels) * 0.3
        full, short = multi_label_metrics(targets, predicted, range(labels)), subset_accuracy_and_macro_f1(targets,
                                                                                                         predicted)
        assert (short["macro_f1"], short["accuracy"]) == (full["macro_f1"], full["subset_accuracy"])
