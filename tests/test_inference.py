import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


ODD_BUT_VALID_TEXTS = {
    "empty": "",
    "whitespace only": " \t\n\r\u3000\u00a0",
    "1 MB": "a superb film " * 75_000,
    "control characters": "\x00\x01\x07\x1b[31mgreat\x1b[0m\x7f\x85\u200b",
    "emoji": "😀🎬👍🏽 great 👨‍👩‍👧",
    "right-to-left": "هذا فيلم رائع \u05e1\u05e8\u05d8 \u05e0\u05d4\u05d3\u05e8",
    "mixed scripts and bidi controls": "great фильм 映画 \u202eevil\u202c e\u0301\u0308 \ufdfa",
}


@pytest.mark.parametrize("text", ODD_BUT_VALID_TEXTS.values(), ids=ODD_BUT_VALID_TEXTS.keys())
def test_odd_but_valid_texts_get_a_prediction(classifier, text):
    result = textrnn.classify_text(text, classifier)
    assert result["label"] in ("neg", "pos") and 0.5 <= result["score"] <= 1.0
    in_a_batch = textrnn.classify_text([text, "great"], classifier)[0]
    assert in_a_batch["label"] == result["label"] and in_a_batch["score"] == pytest.approx(result["score"], abs=1e-6)


@pytest.mark.parametrize("bad,error,message", [
    (None, TypeError, "not NoneType"),
    (b"bytes", TypeError, "decode it first"),
    (bytearray(b"bytes"), TypeError, "decode it first"),
    (42, TypeError, "not int"),
    (4.2, TypeError, "not float"),
    ({"text": "great"}, TypeError, "not dict"),
    ({"great", "awful"}, TypeError, "not set"),
    (["fine", None], TypeError, "index 1 is NoneType"),
    (["fine", 42], TypeError, "index 1 is int"),
    (["fine", b"raw"], TypeError, "index 1 is bytes"),
    ([["nested"]], TypeError, "index 0 is list"),
    (np.array([1, 2]), TypeError, "index 0 is int64"),
    ("\ud800", ValueError, "the text is not valid Unicode: a lone surrogate '\\\\ud800' at character 0"),
    (["fine", "caf\udce9 au lait"], ValueError, "text at index 1 is not valid Unicode: a lone surrogate '\\\\udce9' at "
                                             "character 3"),
])
def test_bad_input_is_a_clear_error(classifier, bad, error, message):
    with pytest.raises(error, match=message):
        textrnn.classify_text(bad, classifier)
    with pytest.raises(error, match=message.replace("the text", "text at index 0")):
        classifier.predict_proba([bad] if isinstance(bad, str) else bad)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(), max_size=4))
def test_any_unicode_text_gets_a_prediction_alone_or_in_a_batch(classifier, texts):
    batched = textrnn.classify_text(texts, classifier, top_k=None)
    assert len(batched) == len(texts)
    for text, ranked in zip(texts, batched):
        assert [r["label"] for r in ranked] in (["neg", "pos"], ["pos", "neg"])
        assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-5)
        alone = {r["label"]: r["score"] for r in textrnn.classify_text(text, classifier, top_k=None)}
        assert alone == pytest.approx({r["label"]: r["score"] for r in ranked}, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]))))
def test_text_with_lone_surrogates_is_refused_and_any_other_is_classified(classifier, text):
    has_surrogate = any(0xD800 <= ord(character) <= 0xDFFF for character in text)
    if has_surrogate:
        with pytest.raises(ValueError, match="lone surrogate"):
            textrnn.classify_text(text, classifier)
    else:
        assert textrnn.classify_text(text, classifier)["label"] in ("neg", "pos")


def test_bad_options_are_clear_errors(trained_run, classifier):
    for top_k in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="top_k"):
            textrnn.classify_text("x", classifier, top_k=top_k)
    for batch_size in (0, -3, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            textrnn.classify_text("x", classifier, batch_size=batch_size)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        textrnn.load(trained_run, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            textrnn.load(trained_run, device="cuda")
