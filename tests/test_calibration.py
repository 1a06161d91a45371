"""Scores you can trust: a temperature fitted on the validation split after training, saved in config.json and used
wherever scores leave textrnn; the report measures calibration before and after it."""

import json

import numpy as np
import pytest
import torch

import textrnn
from textrnn.metrics import reliability, sigmoid_temperatures, softmax_temperature
from textrnn.tasks import make_task


def test_the_fitted_softmax_temperature_is_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20_000, 4)).astype(np.float32)
    probs = torch.softmax(torch.from_numpy(logits) / 2.0, dim=-1).numpy()  # the labels follow a temperature of 2
    labels = np.array([rng.choice(4, p=row / row.sum()) for row in probs])
    assert softmax_temperature(logits, labels) == pytest.approx(2.0, rel=0.06)


def test_each_label_gets_its_own_sigmoid_temperature():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(20_000, 3)).astype(np.float32)
    truth = np.array([0.5, 1.0, 3.0])
    targets = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits / truth))).astype(np.float32)
    assert sigmoid_temperatures(logits, targets) == pytest.approx(truth.tolist(), rel=0.08)


def test_expected_calibration_error_is_the_weighted_gap_per_bin():
    confidences = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    outcomes = np.array([1, 1, 1, 0, 1, 0])  # 75% right at 0.95, 50% right at 0.55
    result = reliability(confidences, outcomes, bins=10)
    assert result["ece"] == pytest.approx((4 * 0.2 + 2 * 0.05) / 6)
    assert [(b["count"], b["accuracy"]) for b in result["bins"]] == [(2, 0.5), (4, 0.75)]


@pytest.mark.parametrize("problem_type", ["single", "multi"])
def test_a_temperature_changes_the_scores_and_never_the_single_label_decision(problem_type):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]])
    plain = make_task(problem_type, "abc")
    warm = make_task(problem_type, "abc", temperature=2.0 if problem_type == "single" else [2.0, 1.0, 0.5])
    assert torch.allclose(plain.probabilities(logits), make_task(problem_type, "abc", temperature=None)
                          .probabilities(logits))
    assert not torch.allclose(plain.probabilities(logits), warm.probabilities(logits))
    if problem_type == "single":
        assert torch.equal(plain.probabilities(logits).argmax(-1), warm.probabilities(logits).argmax(-1))


def test_training_saves_a_temperature_and_the_scores_use_it(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    temperature = config["temperature"]
    assert isinstance(temperature, float) and 0.05 <= temperature <= 50
    model = textrnn.load(trained_run)
    texts = ["a great and moving film", "dull, clumsy and far too long"]
    logits = torch.from_numpy(model.logits(texts))
    expected = torch.softmax(logits / temperature, dim=-1).numpy()
    np.testing.assert_allclose(model.predict_proba(texts), expected, atol=1e-6)
    assert textrnn.classify_text(texts[0], model)["score"] == pytest.approx(float(expected[0].max()), abs=1e-6)


def test_the_report_measures_calibration_before_and_after(trained_run):
    report = json.loads((trained_run / "eval_report.json").read_text())
    calibration = report["calibration"]
    assert calibration["temperature"] == json.loads((trained_run / "config.json").read_text())["temperature"]
    for key in ("before", "after"):
        assert 0 <= calibration[key]["ece"] <= 1
        assert sum(b["count"] for b in calibration[key]["bins"]) == report["num_examples"]
    assert "- Calibration: scores divided by a temperature" in (trained_run / "eval_report.md").read_text()
    assert (trained_run / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_texts_that_are_all_right_leave_the_temperature_at_one():
    logits = np.array([[3.0, -3.0], [-2.0, 2.0], [4.0, 0.0]], dtype=np.float32)
    assert softmax_temperature(logits, np.array([0, 1, 0])) == 1.0  # NLL only falls as T goes to 0: no optimum
    assert sigmoid_temperatures(logits, np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)) == [1.0, 1.0]
