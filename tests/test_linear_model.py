"""The linear n-gram model beside the network: its features, its fit, its share, and a saved model that every
command runs; and the choices `auto` makes for it."""

import json
import numpy as np
import pytest
import torch
from helpers import TINY_MODEL, make_texts, write_csv

import textrnn
from textrnn.batching import collate
from textrnn.checkpoint import WEIGHTS_FILE, load_model_dir, read_safetensors, save_safetensors_bytes
from textrnn.cli import main
from textrnn.data import encode_split
from textrnn.errors import ModelDirError
from textrnn.model import NGRAM_HASH_MULTIPLIER, ModelConfig, RNNClassifier
from textrnn.tasks import make_task
from textrnn.tokenizer import TokenizerConfig, train_tokenizer
from textrnn.training.config import CHARACTER_NGRAMS, TrainConfig
from textrnn.training.linear import SHARES, add_linear_model, choose_buckets


def encoded(rows, tokenizer, task):
    from datasets import Dataset

    split = Dataset.from_dict({"text": [text for text, _ in rows], "label": [label for _, label in rows]})
    return encode_split(split, tokenizer, TokenizerConfig(), task)


@pytest.fixture(scope="module")
def fitted():
    """A random network with a linear model fitted beside it on the synthetic sentiment texts."""
    train_rows, valid_rows = make_texts(300, seed=3), make_texts(100, seed=4)
    tokenizer = train_tokenizer([text for text, _ in train_rows], TokenizerConfig())
    task = make_task("single", ["neg", "pos"])
    to_ids = [(text, int(label == "pos")) for text, label in train_rows], [(text, int(label == "pos"))
                                                                          for text, label in valid_rows]
    train, valid = (encoded(rows, tokenizer, task) for rows in to_ids)
    torch.manual_seed(0)
    network = RNNClassifier(ModelConfig(vocab_size=tokenizer.get_vocab_size(), num_classes=2, embedding_dim=8,
                                        hidden_dim=8)).eval()
    config = TrainConfig(linear_ngrams=2, min_freq=2)
    lines = []
    model, summary = add_linear_model(network, task, train, valid, config, lines.append)
    return network, model.eval(), summary, valid, lines


def reference_linear_logits(model: RNNClassifier, ids: list[int]) -> torch.Tensor:
    """The linear model's logits for one text, from its definition: the distinct hashed 1- and 2-grams, each
    column's idf over the L2 norm of all of them, times the column's weights, plus the bias."""
    config = model.config
    pairs = [(a * NGRAM_HASH_MULTIPLIER + b) % config.linear_buckets + config.vocab_size for a, b in zip(ids, ids[1:])]
    columns = sorted({int(model.linear_index[gram]) for gram in set(ids) | set(pairs)} - {0})
    idf = model.linear_idf[columns].double()
    values = idf / idf.square().sum().sqrt()
    return (model.linear.weight[columns].double() * values.unsqueeze(1)).sum(0) + model.linear_bias.double()


def test_torch_computes_the_features_scikit_learn_was_fitted_on(fitted):
    _, model, _, valid, _ = fitted
    for i in range(0, 100, 7):
        ids = valid[i][0].tolist()
        batch = collate([ids + ids[:3]])  # repeats count once: the features are binary
        got = model.linear_logits(batch["ids"], batch["lengths"])[0].double()
        assert torch.allclose(got, reference_linear_logits(model, ids + ids[:3]), atol=1e-5)


def test_padding_and_batch_neighbours_never_change_the_linear_logits(fitted):
    _, model, _, valid, _ = fitted
    texts = [valid[i][0].tolist() for i in range(8)]
    together = collate(texts)
    batched = model.linear_logits(together["ids"], together["lengths"])
    for row, ids in enumerate(texts):
        alone = collate([ids])
        assert torch.allclose(batched[row], model.linear_logits(alone["ids"], alone["lengths"])[0], atol=1e-6)


def test_the_share_is_the_best_on_validation_and_the_network_is_kept(fitted):
    network, model, summary, valid, lines = fitted
    assert summary["share"] in SHARES and model.config.linear_share == summary["share"]
    scores = summary["validation"]
    assert scores["mixed"] >= max(scores["network"], scores["linear"])
    assert scores["linear"] > 0.9  # the sentiment words alone separate the classes: a linear model learns them
    batch = collate([valid[i][0].tolist() for i in range(16)])
    # the network inside the mix is the trained one, weight for weight
    assert torch.allclose(model.network_logits(batch["ids"], batch["lengths"]), network(batch["ids"], batch["lengths"]))
    mixed = model(batch["ids"], batch["lengths"])
    share = summary["share"]
    expected = (1 - share) * network(batch["ids"], batch["lengths"]) + share * model.linear_logits(batch["ids"],
                                                                                                   batch["lengths"])
    assert torch.allclose(mixed, expected, atol=1e-5)
    assert any(line.startswith("linear model's share") for line in lines)


def test_buckets_grow_with_the_training_tokens_within_bounds():
    assert choose_buckets(100) == 2**16
    assert choose_buckets(100_000) == 2**18  # at least twice the tokens
    assert choose_buckets(10**9) == 2**22


def test_a_column_index_past_the_weights_is_refused(tmp_path, fitted):
    _, model, _, _, _ = fitted
    from textrnn.checkpoint import save_model_dir

    tokenizer = train_tokenizer([text for text, _ in make_texts(300, seed=3)], TokenizerConfig())
    save_model_dir(tmp_path, model, tokenizer, TokenizerConfig(), ["neg", "pos"])
    load_model_dir(tmp_path)  # as saved, it loads
    weights, _ = read_safetensors(tmp_path / WEIGHTS_FILE)
    weights["linear_index"][5] = model.config.linear_features  # one past the last column
    (tmp_path / WEIGHTS_FILE).write_bytes(save_safetensors_bytes(weights, metadata={"format": "pt"}))
    with pytest.raises(ModelDirError, match="linear_index points outside"):
        load_model_dir(tmp_path)


@pytest.fixture(scope="module")
def trained_with_linear(tmp_path_factory):
    root = tmp_path_factory.mktemp("linear")
    train, test = write_csv(root / "train.csv", make_texts(400, seed=5)), write_csv(root / "test.csv",
                                                                                    make_texts(100, seed=6))
    output = root / "run"
    assert main(["train", "--train-file", str(train), "--test-file", str(test), "--output", str(output),
                 "--epochs", "2", *TINY_MODEL]) == 0
    # The synthetic texts are easy enough for the network alone (validation may give the linear model no share):
    # half the logits to each part, so that every command below runs both.
    from textrnn.checkpoint import read_config, update_config

    update_config(output, model={**read_config(output)["model"], "linear_share": 0.5})
    return output, test


def test_a_trained_model_names_its_linear_part_and_every_command_runs_it(trained_with_linear, tmp_path):
    output, test = trained_with_linear
    config = json.loads((output / "config.json").read_text())
    assert config["model"]["linear_ngrams"] == 2 and config["model"]["linear_features"] > 1
    assert config["linear_model"]["share"] in SHARES and config["model"]["linear_share"] == 0.5
    assert set(config["linear_model"]["validation"]) == {"network", "linear", "mixed"}
    classifier = textrnn.load(output)
    assert classifier("a wonderful, charming film")["label"] == "pos"
    assert main(["evaluate", str(output), "--test-file", str(test), "--output", str(tmp_path / "eval")]) == 0
    assert json.loads((tmp_path / "eval" / "eval_report.json").read_text())["accuracy"] > 0.9
    # the ONNX export holds the linear model too: the same scores within the export's tolerance
    assert main(["export", str(output), "--output", str(tmp_path / "onnx")]) == 0
    exported = textrnn.load(tmp_path / "onnx")
    texts = ["a wonderful film", "dull and tedious, a horrible plot", "the story"]
    assert np.allclose(exported.probabilities(texts, 8), classifier.probabilities(texts, 8), atol=1e-4)
    assert not np.allclose(classifier.logits(texts), textrnn.load(output, engine="torch").model.network_logits(
        *collate_texts(classifier, texts)).detach().numpy(), atol=1e-3)  # the linear part counts


def collate_texts(classifier, texts):
    from textrnn.tokenizer import encode_batch

    batch = collate(encode_batch(classifier.tokenizer, texts, classifier.tokenizer_config))
    return batch["ids"], batch["lengths"]


def test_integrated_gradients_account_for_the_linear_part(trained_with_linear):
    output, _ = trained_with_linear
    classifier = textrnn.load(output)
    explanation = textrnn.explain("a wonderful story, really charming", classifier, steps=64)
    assert abs(explanation["delta"]) < 0.02  # the scores add up to p(text) - p(all [PAD]), the linear part included
    best = max(explanation["tokens"], key=lambda token: token["score"])
    assert best["token"] in ("wonderful", "charming")


def test_without_linear_ngrams_the_network_alone_is_saved(tmp_path):
    train = write_csv(tmp_path / "train.csv", make_texts(200, seed=7))
    output = tmp_path / "run"
    assert main(["train", "--train-file", str(train), "--output", str(output), "--epochs", "1", "--linear-ngrams",
                 "0", *TINY_MODEL]) == 0
    config = json.loads((output / "config.json").read_text())
    assert config["model"]["linear_ngrams"] == 0 and "linear_model" not in config
    assert not any(name.startswith("linear") for name in read_safetensors(output / WEIGHTS_FILE)[0])


CHINESE = ["这个手机很好用，电池也很耐用", "质量太差了，用了两天就坏了", "物流很快，包装也不错，好评", "不推荐购买，客服态度很差",
           "非常满意，下次还会再来买", "东西一般，价格有点贵", "屏幕清楚，运行流畅，推荐", "发货太慢，等了一个星期"]


def test_auto_choices_are_logged_saved_and_fit_the_corpus(tmp_path, capsys):
    rows = [(text, "pos" if i % 2 == 0 else "neg") for i, text in enumerate(CHINESE)] * 25
    train = write_csv(tmp_path / "train.csv", rows)
    output = tmp_path / "run"
    assert main(["train", "--train-file", str(train), "--output", str(output), "--epochs", "1", *TINY_MODEL]) == 0
    log = capsys.readouterr().out
    choices = json.loads((output / "config.json").read_text())["auto_choices"]
    assert choices["preset"]["value"] == "sentence" and "median" in choices["preset"]["reason"]
    # 200 Chinese texts: too few to learn subwords from, so characters, and TF-IDF's character 1-3 grams
    assert choices["tokenizer"]["value"] == "char" and "too few" in choices["tokenizer"]["reason"]
    assert choices["linear_ngrams"]["value"] == CHARACTER_NGRAMS
    for name, choice in choices.items():
        assert f"{name}: {choice['value']} ({choice['reason']})" in log
    assert json.loads((output / "train_config.json").read_text())["linear_ngrams"] == CHARACTER_NGRAMS


def test_the_document_presets_epochs_are_an_auto_choice_logged_and_saved(tmp_path, capsys):
    filler = " ".join(["the story goes on and on"] * 25)  # 150 words: documents
    rows = [(f"{filler} {word}", label) for word, label in (("wonderful", "pos"), ("awful", "neg"))] * 60
    train = write_csv(tmp_path / "train.csv", rows)
    output = tmp_path / "run"
    assert main(["train", "--train-file", str(train), "--output", str(output), "--max-length", "32",
                 "--ngram-buckets", "1000", "--patience", "1", *TINY_MODEL]) == 0
    choice = json.loads((output / "config.json").read_text())["auto_choices"]["epochs"]
    # 108 training texts in batches of 16 are 7 updates an epoch: every one of the preset's 10 epochs
    assert choice["value"] == 10 and "108 training texts are 7 batches of 16" in choice["reason"]
    assert f"epochs: 10 ({choice['reason']})" in capsys.readouterr().out
    assert json.loads((output / "train_config.json").read_text())["epochs"] == 10


def test_settings_given_explicitly_are_not_auto_choices(tmp_path):
    train = write_csv(tmp_path / "train.csv", make_texts(200, seed=8))
    output = tmp_path / "run"
    assert main(["train", "--train-file", str(train), "--output", str(output), "--epochs", "1", "--preset",
                 "sentence", "--tokenizer", "word", "--linear-ngrams", "3", *TINY_MODEL]) == 0
    config = json.loads((output / "config.json").read_text())
    assert config.get("auto_choices", {}) == {}
    assert config["model"]["linear_ngrams"] == 3
