"""The public contract, run the same way over a single-label and a multi-label model.

Each kind of model is trained once (module-scoped fixtures, parametrized over "single" and "multi") through
`textrnn train`, then driven only through the entry points users take: textrnn.load, textrnn.classify_text,
`textrnn evaluate`, `textrnn export` and the server's create_app.
"""

import json

import numpy as np
import pytest
from helpers import TINY_MODEL, make_texts, write_csv

import textrnn
from textrnn.cli import main

KINDS = ["single", "multi"]
RUN_FILES = ["config.json", "model.safetensors", "tokenizer.json", "eval_report.json", "eval_report.md"]
EXPORT_TOLERANCE = 1e-4  # ONNX against PyTorch
SERVE_TOLERANCE = 1e-6  # the server against classify_text in the same process
LONG = 12  # words from which a text is also labelled "long" in the multi-label data
PROBE_TEXTS = ["a wonderful and charming film", "the plot was dull and the acting was awful",
               "it was a really very superb story with great music and a brilliant cast at times",
               "tedious", "", "the film was the film"]


def label_set(row, kind: str) -> list[str]:
    """The true labels of a make_texts row: its sentiment, and for multi-label data "long" for long texts."""
    text, sentiment = row
    return [sentiment] if kind == "single" or len(text.split()) < LONG else [sentiment, "long"]


def write_rows(path, rows, kind: str):
    if kind == "single":
        return write_csv(path, rows)
    return write_csv(path, [(text, "|".join(label_set((text, label), kind))) for text, label in rows],
                     header=("text", "labels"))


@pytest.fixture(scope="module", params=KINDS)
def run(request, tmp_path_factory):
    """A tiny model of one kind trained through the command line, with its test file and the test rows."""
    kind = request.param
    root = tmp_path_factory.mktemp(f"contract-{kind}")
    train_rows, test_rows = make_texts(300, seed=11), make_texts(100, seed=12)
    train_csv = write_rows(root / "train.csv", train_rows, kind)
    test_csv = write_rows(root / "test.csv", test_rows, kind)
    output = root / "run"
    extra = ["--label-separator", "|"] if kind == "multi" else []
    code = main(["train", "--train-file", str(train_csv), "--test-file", str(test_csv), "--output", str(output),
                 "--epochs", "2", "--seed", "0", *TINY_MODEL, *extra])
    assert code == 0
    return {"kind": kind, "dir": output, "test_csv": test_csv, "texts": [text for text, _ in test_rows],
            "truth": [label_set(row, kind) for row in test_rows]}


@pytest.fixture(scope="module")
def model(run):
    return textrnn.load(run["dir"])


@pytest.fixture(scope="module")
def config(run):
    return json.loads((run["dir"] / "config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    onnx_dir = tmp_path_factory.mktemp(f"contract-onnx-{run['kind']}") / "onnx"
    assert main(["export", str(run["dir"]), "--output", str(onnx_dir)]) == 0
    return onnx_dir


@pytest.fixture(scope="module")
def onnx_model(exported):
    return textrnn.load(exported)


@pytest.fixture(scope="module")
def client(run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from textrnn.serve import ServeSettings, create_app

    with TestClient(create_app(textrnn.load(run["dir"]), ServeSettings())) as client:
        yield client


# ----------------------------------------------------------------------------- comparing results


def score_map(result) -> dict[str, float]:
    """label -> score of one classify_text result of any shape."""
    if isinstance(result, list):
        return {entry["label"]: entry["score"] for entry in result}
    if "scores" in result:
        return score_map(result["scores"])
    return {result["label"]: result["score"]}


def assert_same_ranking(got: list, expected: list, tolerance: float):
    """Two lists of {"label", "score"}: the same labels with scores within the tolerance, in the same order but
    for ties closer than it."""
    assert isinstance(got, list) and len(got) == len(expected)
    got_scores, expected_scores = score_map(got), score_map(expected)
    assert got_scores.keys() == expected_scores.keys()
    for label, score in expected_scores.items():
        assert got_scores[label] == pytest.approx(score, abs=tolerance), label
    ranked = [expected_scores[entry["label"]] for entry in got]  # got's order, scored by expected
    assert all(a >= b - 2 * tolerance for a, b in zip(ranked, ranked[1:]))


def assert_same_result(got, expected, tolerance: float, thresholds=None):
    """One text's result against another of the same shape: the same label(s) but where a near tie (or a
    multi-label score within the tolerance of its threshold) may fall either way, and scores within it."""
    if isinstance(expected, list):  # single-label, several labels per text
        assert_same_ranking(got, expected, tolerance)
        return
    assert isinstance(got, dict) and got.keys() == expected.keys()
    if "scores" in expected:  # multi-label
        assert_same_ranking(got["scores"], expected["scores"], tolerance)
        scores = score_map(expected)
        border = {name for name, threshold in (thresholds or {}).items() if abs(scores[name] - threshold) <= tolerance}
        assert set(got["labels"]) - border == set(expected["labels"]) - border
        assert len(got["labels"]) == len(set(got["labels"]))
        return
    assert got["score"] == pytest.approx(expected["score"], abs=tolerance)
    if got["label"] != expected["label"]:  # only a near tie may pick another label: the best has at most ~half
        assert expected["score"] <= 0.5 + tolerance


def assert_same_results(got, expected, tolerance: float, thresholds=None):
    """The results of a list of texts, one by one."""
    assert isinstance(got, list) and len(got) == len(expected)
    for one, other in zip(got, expected):
        assert_same_result(one, other, tolerance, thresholds)


def decision(result) -> frozenset[str]:
    """The predicted label(s) of a single-label (default top_k) or multi-label result."""
    return frozenset(result["labels"]) if "labels" in result else frozenset([result["label"]])


# ----------------------------------------------------------------------------- 1. train


def test_train_writes_the_run_directory(run):
    for name in RUN_FILES:
        assert (run["dir"] / name).is_file(), name
        assert (run["dir"] / name).stat().st_size > 0, name
    report = json.loads((run["dir"] / "eval_report.json").read_text(encoding="utf-8"))
    assert report["num_examples"] == len(run["texts"])
    assert 0.0 <= report["accuracy"] <= 1.0


# ----------------------------------------------------------------------------- 2. save / load


def test_load_gives_the_label_names_and_the_problem_type(run, model, config):
    expected = {"single": {"neg", "pos"}, "multi": {"long", "neg", "pos"}}[run["kind"]]
    assert set(model.labels) == expected and len(model.labels) == len(expected)
    assert model.labels == config["labels"]
    assert config["problem_type"] == run["kind"]
    if run["kind"] == "multi":
        assert config["label_separator"] == "|"
        assert len(config["thresholds"]) == len(model.labels)
        assert np.asarray(model.thresholds, dtype=np.float64) == pytest.approx(config["thresholds"], abs=1e-6)
        assert all(0.0 <= threshold <= 1.0 for threshold in config["thresholds"])


# ----------------------------------------------------------------------------- 3. classify_text


def test_classify_text_shapes_for_one_text_and_a_list(run, model, config):
    one = textrnn.classify_text(PROBE_TEXTS[0], model)
    several = textrnn.classify_text(PROBE_TEXTS, model)
    assert isinstance(several, list) and len(several) == len(PROBE_TEXTS)
    thresholds = thresholds_of(config)
    assert_same_result(one, several[0], SERVE_TOLERANCE, thresholds)  # alone or in a batch, the same answer
    if run["kind"] == "single":
        for result in several:
            assert set(result) == {"label", "score"}
            assert result["label"] in model.labels and 0.0 <= result["score"] <= 1.0
        every = textrnn.classify_text(PROBE_TEXTS, model, top_k=None)
        assert len(every) == len(PROBE_TEXTS)
        for result, best in zip(every, several):
            assert isinstance(result, list) and sorted(entry["label"] for entry in result) == sorted(model.labels)
            scores = [entry["score"] for entry in result]
            assert sum(scores) == pytest.approx(1.0, abs=1e-4)
            assert scores == sorted(scores, reverse=True)
            assert result[0]["score"] == pytest.approx(best["score"], abs=1e-6)
            assert best["score"] >= max(scores) - 1e-6
        return
    for result in several:
        assert set(result) == {"labels", "scores"}
        scores = score_map(result)
        assert sorted(scores) == sorted(model.labels) and len(result["scores"]) == len(model.labels)
        assert all(0.0 <= score <= 1.0 for score in scores.values())
        assert [entry["score"] for entry in result["scores"]] == sorted(scores.values(), reverse=True)
        assert len(set(result["labels"])) == len(result["labels"])
        passed = [scores[label] for label in result["labels"]]
        assert passed == sorted(passed, reverse=True)  # highest first
        for label, score in scores.items():
            if abs(score - thresholds[label]) > 1e-6:  # a score on its threshold may fall either way in float32
                assert (label in result["labels"]) == (score >= thresholds[label]), (label, score)


def test_the_model_learned_something(run, model):
    """Not a benchmark: only that the tiny model is no constant, so that the cross-checks compare decisions."""
    results = textrnn.classify_text(run["texts"], model)
    assert len({decision(result) for result in results}) >= 2


# ----------------------------------------------------------------------------- 4. evaluate


def recomputed_metrics(results, truth) -> dict[str, float]:
    """Accuracy (for multi-label data, subset accuracy: every label right) and micro-F1 over (text, label) pairs,
    from classify_text's results and the true labels, in plain Python."""
    predicted = [decision(result) for result in results]
    true = [frozenset(labels_of) for labels_of in truth]
    metrics = {"accuracy": sum(p == t for p, t in zip(predicted, true)) / len(true)}
    tp = sum(len(p & t) for p, t in zip(predicted, true))
    fp = sum(len(p - t) for p, t in zip(predicted, true))
    fn = sum(len(t - p) for p, t in zip(predicted, true))
    metrics["micro_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return metrics


def thresholds_of(config) -> dict[str, float] | None:
    """label -> threshold of a multi-label model's config.json; None for a single-label one."""
    return dict(zip(config["labels"], config["thresholds"])) if config["problem_type"] == "multi" else None


def borderline_texts(model, texts, thresholds, tolerance: float = 1e-5) -> int:
    """How many texts have a decision within `tolerance` of flipping (a near tie, or a score on its threshold)."""
    count = 0
    for result in textrnn.classify_text(texts, model, top_k=None):
        if thresholds is not None:
            count += any(abs(score - thresholds[label]) <= tolerance for label, score in score_map(result).items())
        else:
            count += result[0]["score"] - result[1]["score"] <= tolerance
    return count


def test_evaluate_reports_what_classify_text_answers(run, model, config, tmp_path):
    out = tmp_path / "evaluation"
    assert main(["evaluate", str(run["dir"]), "--test-file", str(run["test_csv"]), "--output", str(out)]) == 0
    assert (out / "eval_report.md").is_file()
    report = json.loads((out / "eval_report.json").read_text(encoding="utf-8"))
    assert report["num_examples"] == len(run["texts"])
    results = textrnn.classify_text(run["texts"], model)
    expected = recomputed_metrics(results, run["truth"])
    slack = borderline_texts(model, run["texts"], thresholds_of(config)) / len(run["texts"]) + 1e-9
    headline = "accuracy" if run["kind"] == "single" else "subset_accuracy"
    assert report[headline] == pytest.approx(expected["accuracy"], abs=slack)
    if run["kind"] == "multi":
        assert report["accuracy"] == pytest.approx(report["subset_accuracy"], abs=1e-12)
        assert report["micro_f1"] == pytest.approx(expected["micro_f1"], abs=3 * slack)
        from sklearn.metrics import f1_score
        from sklearn.preprocessing import MultiLabelBinarizer

        binarizer = MultiLabelBinarizer(classes=model.labels)
        truth = binarizer.fit_transform(run["truth"])
        predicted = binarizer.transform([sorted(decision(result)) for result in results])
        assert f1_score(truth, predicted, average="micro") == pytest.approx(expected["micro_f1"], abs=1e-12)


# ----------------------------------------------------------------------------- 5. export


def test_export_gives_the_pytorch_answers(run, model, exported, onnx_model, config):
    assert (exported / "model.onnx").is_file()
    assert onnx_model.labels == model.labels
    thresholds = thresholds_of(config)
    for top_k in ("auto", None):
        expected = textrnn.classify_text(PROBE_TEXTS, model, top_k=top_k)
        got = textrnn.classify_text(PROBE_TEXTS, onnx_model, top_k=top_k)
        assert_same_results(got, expected, EXPORT_TOLERANCE, thresholds)
    assert_same_result(textrnn.classify_text(PROBE_TEXTS[1], onnx_model),
                       textrnn.classify_text(PROBE_TEXTS[1], model), EXPORT_TOLERANCE, thresholds)


# ----------------------------------------------------------------------------- 6. serve


def test_serve_answers_what_classify_text_answers(run, model, client, config):
    thresholds = thresholds_of(config)
    response = client.post("/predict", json={"inputs": PROBE_TEXTS[0]})
    assert response.status_code == 200
    assert_same_result(response.json(), textrnn.classify_text(PROBE_TEXTS[0], model), SERVE_TOLERANCE, thresholds)
    response = client.post("/predict", json={"inputs": PROBE_TEXTS[1:3]})
    assert response.status_code == 200
    assert_same_results(response.json(), textrnn.classify_text(PROBE_TEXTS[1:3], model), SERVE_TOLERANCE,
                        thresholds)
    response = client.post("/predict", json={"inputs": PROBE_TEXTS[2:4], "top_k": None})
    assert response.status_code == 200
    assert_same_results(response.json(), textrnn.classify_text(PROBE_TEXTS[2:4], model, top_k=None),
                       SERVE_TOLERANCE, thresholds)


# ----------------------------------------------------------------------------- all three agree


def test_served_exported_and_python_decisions_agree(run, model, onnx_model, client, config):
    texts = PROBE_TEXTS + run["texts"][:6]
    python = textrnn.classify_text(texts, model)
    onnx = textrnn.classify_text(texts, onnx_model)
    response = client.post("/predict", json={"inputs": texts})
    assert response.status_code == 200
    served = response.json()
    assert len(python) == len(onnx) == len(served) == len(texts)
    borderline = borderline_texts(model, texts, thresholds_of(config), tolerance=2 * EXPORT_TOLERANCE)
    disagreements = sum(not (decision(p) == decision(o) == decision(s)) for p, o, s in zip(python, onnx, served))
    assert disagreements <= borderline
