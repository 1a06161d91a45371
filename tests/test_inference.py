import pytest
import torch

import textrnn
from textrnn.batching import collate
from textrnn.checkpoint import load_model_dir
from textrnn.tokenizer import encode_batch


@pytest.fixture(scope="module")
def classifier(trained_run):
    return textrnn.load(trained_run)


def test_one_string_gives_one_prediction(classifier):
    result = textrnn.classify_text("a wonderful and charming film", classifier)
    assert set(result) == {"label", "score"}
    assert result["label"] == "pos" and 0.5 < result["score"] <= 1.0


def test_a_list_gives_one_prediction_per_text(classifier):
    results = textrnn.classify_text(["a dreadful boring film", "superb acting", ""], classifier)
    assert [r["label"] for r in results[:2]] == ["neg", "pos"]
    assert len(results) == 3 and results[2]["label"] in ("neg", "pos")  # empty text still gets an answer


def test_top_k_ranks_labels_by_score(classifier):
    ranked = textrnn.classify_text("a tedious plot", classifier, top_k=2)
    assert [r["label"] for r in ranked] == ["neg", "pos"]
    assert ranked[0]["score"] >= ranked[1]["score"]
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-5)
    assert textrnn.classify_text(["x", "y"], classifier, top_k=None)[1][0].keys() == {"label", "score"}
    assert textrnn.classify_text([], classifier) == []
    # any iterable of strings works: a tuple, a generator, a numpy array of str
    import numpy as np

    texts = ["great", "awful"]
    expected = textrnn.classify_text(texts, classifier)
    assert textrnn.classify_text(tuple(texts), classifier) == expected
    assert textrnn.classify_text((t for t in texts), classifier) == expected
    assert textrnn.classify_text(np.array(texts), classifier) == expected


def test_a_model_directory_works_in_place_of_a_classifier(trained_run, classifier):
    assert textrnn.classify_text("great", trained_run) == textrnn.classify_text("great", classifier)


def test_batched_predictions_match_one_by_one(classifier):
    texts = ["great", "the film was dull and the plot was tedious at times", "charming", "awful acting"]
    together = classifier.predict_proba(texts, batch_size=3)
    alone = [classifier.predict_proba([text])[0] for text in texts]
    for row, expected in zip(together, alone):
        assert row == pytest.approx(expected, abs=1e-6)


def test_probabilities_come_from_the_saved_model(trained_run, classifier):
    model, tokenizer, _ = load_model_dir(trained_run)
    batch = collate(encode_batch(tokenizer, ["superb"]))
    with torch.no_grad():
        expected = torch.softmax(model(batch["ids"], batch["lengths"]), -1)[0].numpy()
    assert classifier.predict_proba(["superb"])[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("bad,error,message", [
    (None, TypeError, "not NoneType"),
    (b"bytes", TypeError, "decode it first"),
    (42, TypeError, "not int"),
    ({"text": "great"}, TypeError, "not dict"),
    (["fine", None], TypeError, "index 1 is NoneType"),
])
def test_bad_input_is_a_clear_error(classifier, bad, error, message):
    with pytest.raises(error, match=message):
        textrnn.classify_text(bad, classifier)


def test_bad_options_are_clear_errors(trained_run, classifier):
    with pytest.raises(ValueError, match="top_k"):
        textrnn.classify_text("x", classifier, top_k=0)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        textrnn.load(trained_run, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            textrnn.load(trained_run, device="cuda")
