"""Model directories saved by an earlier textrnn (tests/fixtures/legacy, made by make_legacy_models.py before the
package was reorganised) load with today's code and score the same texts the same."""

import json
from pathlib import Path

import numpy as np
import pytest

from textrnn import classify_text, load

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())


def labels_and_scores(results) -> list:
    """Each text's (labels in order, their scores): single-label lists of {label, score}, or a multi-label dict."""
    rows = []
    for result in results:
        ranked = result["scores"] if isinstance(result, dict) else result
        rows.append(([item["label"] for item in ranked], [item["score"] for item in ranked],
                     result.get("labels") if isinstance(result, dict) else None))
    return rows


@pytest.mark.parametrize("name", ["single", "multi"])
def test_a_directory_saved_before_scores_the_same(name):
    model = load(LEGACY / name)
    expected = EXPECTED[name]
    np.testing.assert_allclose(model.predict_proba(EXPECTED["texts"]), expected["probabilities"], atol=1e-5)
    got = labels_and_scores(classify_text(EXPECTED["texts"], model, top_k=None))
    for (labels, scores, passed), (old_labels, old_scores, old_passed) in zip(got, labels_and_scores(
            expected["results"])):
        assert labels == old_labels and passed == old_passed
        np.testing.assert_allclose(scores, old_scores, atol=1e-5)


def test_the_fixtures_cover_both_label_shapes_and_the_bag():
    single, multi = (json.loads((LEGACY / name / "config.json").read_text()) for name in ("single", "multi"))
    assert single["problem_type"] == "single" and single["model"]["ngrams"] == 2
    assert multi["problem_type"] == "multi" and len(multi["thresholds"]) == len(multi["labels"]) == 3
