import pytest
import torch

from textrnn.batching import collate
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.training.config import check_pretrainable
from textrnn.training.pretrain import LanguageModel, prediction_pairs


def tiny_classifier(**overrides) -> RNNClassifier:
    torch.manual_seed(0)
    settings = {"vocab_size": 40, "num_classes": 2, "embedding_dim": 8, "hidden_dim": 6, "dropout": 0.0,
                "word_dropout": 0.0}
    return RNNClassifier(ModelConfig(**(settings | overrides))).eval()


def test_forward_states_predict_the_next_token_and_backward_ones_the_previous():
    batch = collate([[5, 6, 7], [8, 9]])
    hidden = 2
    # output[b, t] = (forward: 100 * b + t, backward: -(100 * b + t)), so each state names its position
    position = (100 * torch.arange(2).unsqueeze(1) + torch.arange(3)).float()  # [batch, seq]
    output = torch.stack([position, position, -position, -position], dim=2)  # [batch, seq, 2 * hidden]
    states, targets = prediction_pairs(output, batch["ids"], batch["lengths"], hidden, bidirectional=True)
    pairs = sorted((float(state[0]), int(target)) for state, target in zip(states, targets))
    # forward: (0,0)->6, (0,1)->7, (1,0)->9; backward: (0,1)->5, (0,2)->6, (1,1)->8; padding never appears
    assert pairs == sorted([(0.0, 6), (1.0, 7), (100.0, 9), (-1.0, 5), (-2.0, 6), (-101.0, 8)])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional,num_layers", [(True, 1), (False, 2)])
def test_no_state_sees_the_token_it_predicts(cell, bidirectional, num_layers):
    model = tiny_classifier(cell=cell, bidirectional=bidirectional, num_layers=num_layers)
    ids = [3, 4, 5, 6, 7, 8]
    changed = list(ids)
    changed[3] = 30
    with torch.no_grad():
        results = []
        for sequence in (ids, changed):
            batch = collate([sequence, [9, 10]])  # a shorter text alongside: padding must not matter either
            output = model.encode(model.embedding(batch["ids"]), batch["lengths"])
            results.append(prediction_pairs(output, batch["ids"], batch["lengths"], 6, bidirectional))
    (states, targets), (changed_states, changed_targets) = results
    predicts_position_3 = (targets == 6) & (changed_targets == 30)
    assert predicts_position_3.sum() == (2 if bidirectional else 1)
    torch.testing.assert_close(states[predicts_position_3], changed_states[predicts_position_3])


def test_stacked_bidirectional_models_cannot_be_pretrained():
    with pytest.raises(ValueError, match="1-layer bidirectional"):
        check_pretrainable(ModelConfig(vocab_size=10, num_classes=2, num_layers=2))
    with pytest.raises(ValueError, match="1-layer bidirectional"):
        LanguageModel(tiny_classifier(num_layers=2))


def test_language_model_learns_a_repeating_corpus():
    model = tiny_classifier(vocab_size=12)
    language_model = LanguageModel(model).train()
    batch = collate([[2, 3, 4, 5, 6, 7, 8, 9, 10, 11] * 2] * 4)
    optimizer = torch.optim.Adam(language_model.parameters(), lr=0.05)
    first = language_model(batch["ids"], batch["lengths"]).item()
    for _ in range(60):
        loss = language_model(batch["ids"], batch["lengths"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first > 2.0 and loss.item() < 0.5 * first
    # the classifier's own encoder is what learnt
    assert language_model.classifier is model and model.embedding.weight.grad is not None


def test_train_with_pretraining_in_mixed_precision_writes_its_metrics(sentiment_files, tmp_path):
    import json

    from helpers import TINY_MODEL

    from textrnn.cli import main

    output = tmp_path / "run"
    assert main(["train", "--train-file", str(sentiment_files["train"]), "--output", str(output),
                 "--epochs", "1", "--pretrain-epochs", "2", "--amp", "--embedding-init", "svd", *TINY_MODEL]) == 0
    history = json.loads((output / "pretrain_metrics.json").read_text())
    assert [row["pretrain_epoch"] for row in history] == [1, 2]
    assert history[1]["valid_loss"] < history[0]["valid_loss"]
    assert json.loads((output / "train_config.json").read_text())["pretrain_epochs"] == 2



def test_cooccurrence_vectors_put_words_of_one_topic_together():
    import numpy as np

    from textrnn.batching import EncodedSplit
    from textrnn.training.pretrain import cooccurrence_vectors

    rng = np.random.default_rng(0)
    topics = [np.arange(2, 8), np.arange(8, 14)]  # two sets of word ids that never share a text
    texts = [rng.choice(topics[i % 2], size=12) for i in range(200)]
    lengths = np.array([len(text) for text in texts])
    encoded = EncodedSplit(np.concatenate(texts).astype(np.int32), np.concatenate([[0], np.cumsum(lengths)]),
                           np.zeros(len(texts), dtype=np.int64))
    vectors = cooccurrence_vectors(encoded, vocab_size=14, dim=4)
    assert vectors.shape == (14, 4) and abs(vectors.std() - 1) < 1e-5
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
    within = unit[2] @ unit[3]
    across = unit[2] @ unit[9]
    assert within > 0.5 > across
