"""The bag-of-n-grams channel: its ids, padding, learning, save/load, ONNX export and explanations."""

import pytest
import torch
from test_export import TOLERANCE, largest_difference
from test_explain import KEYWORD, model_probability, train_keyword_model

import textrnn
from textrnn.batching import collate
from textrnn.checkpoint import load_model_dir, save_model_dir
from textrnn.errors import ModelDirError
from textrnn.explanations import explain
from textrnn.model import NGRAM_HASH_MULTIPLIER, ModelConfig, RNNClassifier
from textrnn.tokenizer import TokenizerConfig, encode_batch, train_tokenizer


def ngram_model(**overrides) -> RNNClassifier:
    torch.manual_seed(0)
    settings = {"vocab_size": 50, "num_classes": 3, "embedding_dim": 8, "hidden_dim": 6, "ngrams": 3,
                "ngram_buckets": 101, "ngram_dim": 5}
    return RNNClassifier(ModelConfig(**(settings | overrides))).eval()


def test_each_run_of_tokens_gets_its_own_id_and_padding_none():
    model = ngram_model()
    batch = collate([[5, 9, 3], [7, 2]])  # the second text is padded to 3
    grams = model.ngram_ids(batch["ids"], batch["lengths"])
    bigram = (5 * NGRAM_HASH_MULTIPLIER + 9) % 101 + 50
    trigram = ((5 * NGRAM_HASH_MULTIPLIER + 9) % 101 * NGRAM_HASH_MULTIPLIER + 3) % 101 + 50
    assert grams[0].tolist() == [5, 9, 3, bigram, (9 * NGRAM_HASH_MULTIPLIER + 3) % 101 + 50, trigram]
    # tokens, then 2 bigrams, then 1 trigram; the padded text has 2 tokens, 1 bigram and no trigram
    assert grams[1].tolist() == [7, 2, 0, (7 * NGRAM_HASH_MULTIPLIER + 2) % 101 + 50, 0, 0]
    # order matters: (a, b) and (b, a) are different pairs
    assert model.ngram_ids(torch.tensor([[9, 5]]), torch.tensor([2]))[0, 2] != grams[0, 3]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_never_changes_the_logits(cell):
    model = ngram_model(cell=cell)
    short = [5, 9, 3]
    with torch.no_grad():
        alone = model(**collate([short]))
        batch = collate([[7, 2, 8, 4, 6, 11, 12, 13, 20], short, [30, 31]])
        together = model(batch["ids"], batch["lengths"])
    torch.testing.assert_close(together[1], alone[0], rtol=1e-5, atol=1e-6)


def test_the_bag_learns_and_its_padding_row_stays_zero():
    model = ngram_model().train()
    batch = collate([[3, 4, 5], [6], [7, 8]], labels=[0, 2, 1])
    torch.nn.functional.cross_entropy(model(batch["ids"], batch["lengths"]), batch["labels"]).backward()
    grad = model.ngram_embedding.weight.grad
    assert torch.count_nonzero(grad[0]) == 0
    assert torch.count_nonzero(grad[3]) > 0 and torch.count_nonzero(grad[50:]) > 0  # a token and some n-grams
    assert model.head.in_features == 2 * 6 + 5  # the pooled RNN state and the bag


def test_save_then_load_keeps_the_bag(tmp_path):
    texts = ["a fine film", "a poor film", "fine acting", "poor plot and poor acting"]
    tokenizer = train_tokenizer(texts, TokenizerConfig(min_freq=1))
    model = ngram_model(vocab_size=tokenizer.get_vocab_size(), num_classes=2)
    save_model_dir(tmp_path / "model", model, tokenizer, TokenizerConfig(min_freq=1), ["neg", "pos"])
    loaded, _, config = load_model_dir(tmp_path / "model")
    assert config["model"]["ngrams"] == 3 and config["model"]["ngram_buckets"] == 101
    batch = collate(encode_batch(tokenizer, texts))
    with torch.no_grad():
        assert torch.equal(loaded(batch["ids"], batch["lengths"]), model(batch["ids"], batch["lengths"]))
    # a config.json that promises no bag for weights that hold one is refused, not half-loaded
    text = (tmp_path / "model" / "config.json").read_text().replace('"ngrams": 3', '"ngrams": 0')
    (tmp_path / "model" / "config.json").write_text(text)
    with pytest.raises(ModelDirError, match="unexpected tensors.*ngram_embedding"):
        load_model_dir(tmp_path / "model")


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_the_onnx_graph_computes_the_same_bag(ngrams, tmp_path):
    config = ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden_dim=6, ngrams=ngrams,
                         ngram_buckets=101, ngram_dim=5, pooling="max+mean")
    assert largest_difference(config, tmp_path) <= TOLERANCE


def test_bad_settings_are_refused():
    for settings, message in (({"ngrams": -1}, "ngrams must be 0"), ({"ngrams": 2, "ngram_buckets": 0}, "ngram_buckets"),
                              ({"ngrams": 2, "ngram_dim": 0}, "ngram_dim")):
        with pytest.raises(ValueError, match=message):
            ngram_model(**settings)


@pytest.fixture(scope="module")
def keyword_classifier(tmp_path_factory):
    """A model with words and word pairs in its bag, trained on texts where one word decides the label."""
    return textrnn.load(train_keyword_model(tmp_path_factory.mktemp("ngram-keyword"), ngrams=2, ngram_buckets=1000,
                                            ngram_dim=8))


def test_explanations_cover_the_bag(keyword_classifier):
    """Integrated Gradients through the embedding and the bag still add up to the change from the baseline,
    and the keyword, which the bag sees as a word and in two pairs, stands out."""
    classifier = keyword_classifier
    assert classifier.model.config.ngrams == 2
    for text in ["the film zorblax and music", "the plot was with story zorblax", "zorblax café naïve 电影 好看"]:
        explanation = explain(text, classifier, steps=50)
        target = classifier.labels.index(explanation["label"])
        ids = encode_batch(classifier.tokenizer, [text], classifier.tokenizer_config)[0]
        change = model_probability(classifier, ids, target) - model_probability(classifier, [0] * len(ids), target)
        assert sum(token["score"] for token in explanation["tokens"]) == pytest.approx(change, abs=0.01)
        assert explanation["label"] == "pos"
        assert max(explanation["tokens"], key=lambda token: token["score"])["token"] == KEYWORD


def test_word_dropout_takes_the_dropped_words_and_their_pairs_out_of_the_bag(monkeypatch):
    """A dropped word is gone for the RNN and the bag alike: training with it dropped gives the logits of the text
    with padding in its place (whose embedding is zero and which the bag skips, pairs included)."""
    model = ngram_model(ngrams=2, word_dropout=0.5, dropout=0.0)
    with torch.no_grad():
        padded = model.eval()(torch.tensor([[5, 0, 3, 7]]), torch.tensor([4]))
        whole = model.eval()(torch.tensor([[5, 9, 3, 7]]), torch.tensor([4]))
        monkeypatch.setattr(model, "word_mask", lambda ids: torch.tensor([[True, False, True, True]]))
        dropped = model.train()(torch.tensor([[5, 9, 3, 7]]), torch.tensor([4]))
    torch.testing.assert_close(dropped, padded)
    assert not torch.allclose(dropped, whole)
    grams = model.ngram_ids(torch.tensor([[5, 0, 3, 7]]), torch.tensor([4]))[0].tolist()
    assert grams[:4] == [5, 0, 3, 7] and grams[4:6] == [0, 0] and grams[6] != 0  # (5, 9), (9, 3) gone; (3, 7) stays
