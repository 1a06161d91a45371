"""Per-token explanations: a planted keyword gets the largest attribution, Integrated Gradients adds up, offsets
point at the original characters, and bad requests are clear errors."""

import copy
import csv
import html as htmllib
import io
import json
import random
import re
import sys
import unicodedata

import pytest
import torch
from tokenizers import Tokenizer

import textrnn
from textrnn.cli import main
from textrnn.errors import ConfigError, InputError, InputTypeError, TextRNNError
from textrnn.explanations import MAX_OCCLUSION_TOKENS, explain, render_html, render_html_page
from textrnn.tasks import make_task
from textrnn.tokenizer import encode_batch

KEYWORD = "zorblax"  # in every positive text and no negative one: it alone decides the label
# Filler words the tokenizer's normaliser changes or that span several bytes: accents, Chinese, emoji, a full-width
# word (NFKC: "full"), a ligature (NFKC: "fine"), a capital whose lowercase is two characters.
FILLER = ["the", "film", "story", "plot", "and", "music", "with", "was", "café", "naïve", "电影", "好看", "😀",
          "ＦＵＬＬ", "ﬁne", "İstanbul", "straße"]
COMPLETENESS_TOLERANCE = 0.01  # |sum of IG scores - (p(text) - p(all [PAD]))|, in probability, with 50 steps
METHODS = ("integrated_gradients", "occlusion")


def keyword_rows(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 15))]
        if i % 2 == 0:
            words.insert(rng.randint(0, len(words)), KEYWORD)
        rows.append((" ".join(words), "pos" if i % 2 == 0 else "neg"))
    return rows


def train_keyword_model(root, **settings):
    """A tiny model trained on texts where the keyword alone decides the label; returns its directory."""
    from textrnn.training.config import TrainConfig
    from textrnn.training.train import train

    for name, count, seed in (("train", 300, 1), ("test", 60, 2)):
        with open(root / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([("text", "label"), *keyword_rows(count, seed)])
    train(TrainConfig(train_file=str(root / "train.csv"), test_file=str(root / "test.csv"), output=str(root / "run"),
                      embedding_dim=16, hidden_dim=16, batch_size=16, lr=0.01, epochs=3, min_freq=1,
                      embedding_init="random", word_dropout=0.0, device="cpu", progress=False, seed=0, **settings))
    return root / "run"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_keyword_model(tmp_path_factory.mktemp("keyword"))


@pytest.fixture(scope="module")
def classifier(model_dir):
    return textrnn.load(model_dir, engine="torch")  # the tests below look inside the PyTorch model's forward pass


def model_probability(classifier, ids: list[int], target: int) -> float:
    """p(target) for token ids, straight from the model: the reference the explanations are checked against."""
    with torch.inference_mode():
        logits = classifier.model(torch.tensor([ids]), torch.tensor([len(ids)]))
    return float(classifier.task.probabilities(logits)[0, target])


@pytest.mark.parametrize("method", METHODS)
def test_the_planted_keyword_gets_the_largest_attribution(classifier, method):
    for text in ["the film zorblax and music", "Zorblax! café naïve 电影", "the plot was 😀 with story zorblax"]:
        explanation = explain(text, classifier, method=method)
        assert explanation["label"] == "pos" and explanation["method"] == method
        best = max(explanation["tokens"], key=lambda token: token["score"])
        assert best["token"] == KEYWORD and best["score"] > 0
        # explained for the other label, the keyword is the strongest evidence against it
        against = explain(text, classifier, label="neg", method=method)
        assert min(against["tokens"], key=lambda token: token["score"])["token"] == KEYWORD


def test_integrated_gradients_add_up_to_the_change_from_the_baseline(classifier):
    for text in ["the film zorblax and music", "café naïve 电影 好看 😀 plot", "zorblax " * 3 + "the story " * 20]:
        explanation = explain(text, classifier, steps=50)
        target = classifier.labels.index(explanation["label"])
        ids = encode_batch(classifier.tokenizer, [text], classifier.tokenizer_config)[0]
        change = model_probability(classifier, ids, target) - model_probability(classifier, [0] * len(ids), target)
        total = sum(token["score"] for token in explanation["tokens"])
        assert total == pytest.approx(change, abs=COMPLETENESS_TOLERANCE)
        assert abs(explanation["delta"]) <= COMPLETENESS_TOLERANCE
        assert explanation["delta"] == pytest.approx(total - change, abs=1e-4)  # delta is that very gap
        # the score is classify_text's, and it is the probability the attributions explain
        assert explanation["score"] == pytest.approx(classifier.predict_proba([text])[0, target], abs=1e-6)
        assert explanation["score"] == pytest.approx(model_probability(classifier, ids, target), abs=1e-5)
        assert explanation["target"] == "probability" and explanation["dropped"] is None


def test_integrated_gradients_leave_the_shared_model_alone(classifier):
    """Captum hooks the layer it explains: on the shared model, a server's concurrent predictions would read
    the interpolated embeddings of the explanation instead of their own."""
    calls = []
    hook = classifier.model.embedding.register_forward_hook(
        lambda module, inputs, output: calls.append((module is classifier.model.embedding, output.size(0))))
    try:
        explain("the film zorblax", classifier, steps=8)
    finally:
        hook.remove()
    assert (True, 1) in calls and all(size == 1 for shared, size in calls if shared)  # only the score's forward
    assert any(not shared and size >= 8 for shared, size in calls)  # the steps ran on a copy
    assert not classifier.model.embedding._forward_hooks and not classifier.model.training


def test_a_multi_label_model_explains_its_sigmoid_probability():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert torch.allclose(make_task("multi", "abc").probabilities(logits), torch.sigmoid(logits))
    assert torch.allclose(make_task("single", "abc").probabilities(logits), torch.softmax(logits, dim=-1))


def test_occlusion_is_the_change_when_a_word_is_left_out(classifier):
    words = "the film zorblax café 电影 😀".split()
    explanation = explain(" ".join(words), classifier, method="occlusion")
    assert explanation["delta"] is None and len(explanation["tokens"]) == len(words)
    full = explanation["score"]
    for i, token in enumerate(explanation["tokens"]):
        without = " ".join(words[:i] + words[i + 1 :])
        left_out = textrnn.classify_text(without, classifier, top_k=None)
        assert token["score"] == pytest.approx(full - next(r["score"] for r in left_out if r["label"] == "pos"),
                                               abs=1e-5)


@pytest.mark.parametrize("text", [
    "Café NAÏVE 电影很好看 😀😀 zorblax",
    "ＦＵＬＬ ﬁne İstanbul<br />Straße<BR>the  end 🎬!",
    # NFKC composes e + a combining accent into é, Hangul jamo into a syllable, half-width kana with its voicing
    # mark into one letter, and expands ½ into the three tokens 1 ⁄ 2 that share one character
    "  leading spaces, tabs\tand\nnew lines: cafe\u0301 \u1100\u1161\u11a8 ｶﾞ ½ ",
    "",
])
def test_offsets_point_at_the_original_characters(classifier, text):
    for method in METHODS:
        tokens = explain(text, classifier, method=method)["tokens"]
        start, cursor = 0, 0
        for token in tokens:
            written = text[token["start"] : token["end"]]
            assert token["start"] >= start and token["end"] >= token["start"]
            start = token["start"]
            if token["token"] != "[UNK]":
                assert unicodedata.normalize("NFKC", written).lower() == token["token"]
            elif text.strip():
                assert written and written == written.strip()  # an unknown word, not a gap
            # between two tokens there is only what the tokenizer reads as a space: no character is left out
            assert re.fullmatch(r"(?i)(\s|<br\s*/?>)*", text[cursor : token["start"]])
            cursor = max(cursor, token["end"])
        assert re.fullmatch(r"(?i)(\s|<br\s*/?>)*", text[cursor:])
    if not text.strip():  # no tokens: the model reads one [UNK], which covers no characters
        assert [(t["token"], t["start"], t["end"]) for t in tokens] == [("[UNK]", 0, 0)]
    spans = [text[t["start"] : t["end"]] for t in tokens]
    if "cafe" in text:
        assert spans[-6:] == ["cafe\u0301", "\u1100\u1161\u11a8", "ｶﾞ", "½", "½", "½"]


def truncating_classifier(classifier, truncation: str, max_length: int):
    """The same model reading at most max_length tokens, cut as a model trained with that truncation cuts them."""
    tokenizer = Tokenizer.from_str(classifier.tokenizer.to_str())
    tokenizer.no_truncation()
    if truncation == "head":
        tokenizer.enable_truncation(max_length=max_length)  # as train_tokenizer does
    config = copy.deepcopy(classifier.config)
    config["tokenizer"].update(max_length=max_length, truncation=truncation)
    return textrnn.TextClassifier(classifier.model, tokenizer, config)


@pytest.mark.parametrize("truncation, kept, dropped", [
    ("head", "the café plot film music", "zorblax 电影 and 😀 story"),
    ("head+tail", "the 电影 and 😀 story", "café plot film music zorblax"),  # the first quarter and the rest
])
def test_truncated_tokens_are_left_out_and_named(classifier, truncation, kept, dropped):
    text = "the café plot film music zorblax 电影 and 😀 story"
    short = truncating_classifier(classifier, truncation, max_length=5)
    for method in METHODS:
        explanation = explain(text, short, method=method)
        assert [text[t["start"] : t["end"]] for t in explanation["tokens"]] == kept.split()
        assert explanation["dropped"]["tokens"] == 5
        assert text[explanation["dropped"]["start"] : explanation["dropped"]["end"]] == dropped
        assert explanation["score"] == pytest.approx(textrnn.classify_text(text, short, top_k=None)[0]["score"])
    assert abs(explain(text, short)["delta"]) <= COMPLETENESS_TOLERANCE


def test_bad_requests_are_clear_errors(classifier):
    with pytest.raises(ConfigError, match=r"unknown label 'maybe'.*'neg', 'pos'"):
        explain("the film", classifier, label="maybe")
    with pytest.raises(ConfigError, match="unknown method 'shap'.*integrated_gradients, occlusion"):
        explain("the film", classifier, method="shap")
    with pytest.raises(ConfigError, match="at most 200 tokens.*integrated_gradients"):
        explain("the " * (MAX_OCCLUSION_TOKENS + 1), classifier, method="occlusion")
    assert len(explain("the " * MAX_OCCLUSION_TOKENS, classifier, method="occlusion")["tokens"]) == 200
    with pytest.raises(ConfigError, match="steps must be a positive int"):
        explain("the film", classifier, steps=0)
    with pytest.raises(InputTypeError, match="not bytes"):
        explain(b"the film", classifier)
    with pytest.raises(InputTypeError, match="not int"):
        explain(12, classifier)
    with pytest.raises(InputTypeError, match="one text"):
        explain(["the film", "a plot"], classifier)
    with pytest.raises(InputError, match="lone surrogate"):
        explain("the \udcff film", classifier)


def test_a_model_directory_works_as_the_model(model_dir, classifier):
    by_path = explain("zorblax film", str(model_dir), method="occlusion")
    assert by_path == explain("zorblax film", classifier, method="occlusion")
    assert textrnn.explain is explain


def test_the_page_is_standalone_and_escapes_the_text(classifier):
    explanation = explain("zorblax <b>film</b> & \"music\"", classifier)
    page = render_html(explanation)
    assert page.startswith("<!DOCTYPE html>") and "pos" in page and f"{explanation['score']:.4f}" in page
    shown = re.search(r'<p class="text">(.*?)</p>', page, re.DOTALL).group(1)
    without_spans = re.sub(r"<span [^>]*>|</span>", "", shown)
    assert "<" not in without_spans and htmllib.unescape(without_spans) == explanation["text"]
    assert not re.search(r"https?:|<script|<link|src=|@import", page)
    assert "rgba(40, 160, 60, 1.000)" in page  # the strongest token, for the label, is full green
    assert render_html_page([explanation, explanation]).count('class="explanation"') == 2


def test_the_command_line_prints_json_lines_and_writes_one_page(model_dir, tmp_path, capsys, monkeypatch):
    page = tmp_path / "explained.html"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("电影 zorblax 😀\n".encode())))
    assert main(["explain", str(model_dir), "the film zorblax", "-", "--html", str(page), "--steps", "20"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["the film zorblax", "电影 zorblax 😀"]
    assert all(max(line["tokens"], key=lambda t: t["score"])["token"] == KEYWORD for line in lines)
    html = page.read_text(encoding="utf-8")
    assert html.count('class="explanation"') == 2 and "电影" in html and not re.search(r"https?:", html)

    assert main(["explain", str(model_dir), "the film", "--method", "occlusion", "--label", "neg"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "neg"

    for flags, message in [(["--label", "maybe"], "unknown label 'maybe'"),
                           (["--method", "occlusion", "--steps", "10"], "--steps"),
                           (["--method", "lime"], "unknown method 'lime'")]:
        assert main(["explain", str(model_dir), "the film", *flags]) == 2
        assert message in capsys.readouterr().err
    assert main(["explain", str(model_dir)]) == 2
    assert "no text given" in capsys.readouterr().err


@pytest.fixture(scope="module")
def exported_classifier(model_dir, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    target = tmp_path_factory.mktemp("keyword-onnx") / "onnx"
    assert main(["export", str(model_dir), "--output", str(target)]) == 0
    return textrnn.load(target)


def test_an_exported_model_is_explained_by_occlusion_without_asking(classifier, exported_classifier):
    from textrnn.explanations import methods_for

    assert methods_for(classifier) == METHODS and methods_for(exported_classifier) == ("occlusion",)
    text = "the film zorblax café 电影"
    explanation = explain(text, exported_classifier)
    assert explanation["method"] == "occlusion" and explanation["delta"] is None
    by_pytorch = explain(text, classifier, method="occlusion")  # the same weights, run by PyTorch
    assert [t["token"] for t in explanation["tokens"]] == [t["token"] for t in by_pytorch["tokens"]]
    assert [t["score"] for t in explanation["tokens"]] == pytest.approx([t["score"] for t in by_pytorch["tokens"]],
                                                                        abs=1e-4)
    assert explain(text, classifier)["method"] == "integrated_gradients"  # a PyTorch model's default


def test_the_hints_name_the_python_argument_and_the_flag(classifier, exported_classifier, monkeypatch):
    with pytest.raises(ConfigError) as refused:
        explain("the film", exported_classifier, method="integrated_gradients")
    assert "method='occlusion' (textrnn explain --method occlusion)" in str(refused.value)
    long_text = "the " * (MAX_OCCLUSION_TOKENS + 1)
    with pytest.raises(ConfigError) as refused:
        explain(long_text, classifier, method="occlusion")
    assert "method='integrated_gradients' (textrnn explain --method integrated_gradients)" in str(refused.value)
    with pytest.raises(ConfigError) as refused:  # an export has no Integrated Gradients to offer instead
        explain(long_text, exported_classifier)
    assert "integrated_gradients" not in str(refused.value) and "shorter text" in str(refused.value)
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # captum not installed
    with pytest.raises(TextRNNError) as refused:
        explain("the film", classifier)
    assert "textrnn[explain]" in str(refused.value)
    assert "method='occlusion' (textrnn explain --method occlusion)" in str(refused.value)
