import itertools

import pytest
import torch

from textrnn.batching import collate
from textrnn.model import CELLS, POOLINGS, ModelConfig, RNNClassifier


def tiny_model(**overrides) -> RNNClassifier:
    torch.manual_seed(0)
    settings = {"vocab_size": 50, "num_classes": 3, "embedding_dim": 8, "hidden_dim": 12, "dropout": 0.2}
    return RNNClassifier(ModelConfig(**(settings | overrides))).eval()


ARCHITECTURES = list(itertools.product(CELLS, (True, False), (1, 2)))


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize(
    "cell,bidirectional,num_layers,pooling",
    [(*architecture, pooling) for architecture in ARCHITECTURES for pooling in (*POOLINGS, "max+mean+last")],
)
def test_padding_never_changes_the_logits(cell, bidirectional, num_layers, pooling, packed, monkeypatch):
    model = tiny_model(cell=cell, bidirectional=bidirectional, num_layers=num_layers, pooling=pooling)
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda x, lengths: encode(x, lengths, packed=packed))
    short = [5, 9, 3]
    others = [[7, 2, 8, 4, 6, 11, 12, 13, 20], [4] * 17, [30, 31]]
    with torch.no_grad():
        alone = model(**{k: v for k, v in collate([short]).items()})
        batch = collate([others[0], short, others[1], others[2]])  # short sits among longer texts, padded to 17
        together = model(batch["ids"], batch["lengths"])
    assert batch["ids"].shape == (4, 17)
    torch.testing.assert_close(together[1], alone[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("texts", [[[3, 4, 5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15], [16]],
                                   [[3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16]]], ids=["mixed", "equal"])
@pytest.mark.parametrize("cell,bidirectional,num_layers", ARCHITECTURES)
def test_padded_kernel_matches_packed_sequences(cell, bidirectional, num_layers, texts):
    """The CPU fast paths give the packed RNN's outputs and gradients at every real position."""
    model = tiny_model(cell=cell, bidirectional=bidirectional, num_layers=num_layers, dropout=0.0)
    batch = collate(texts)
    valid = (torch.arange(7) < batch["lengths"].unsqueeze(1)).unsqueeze(2)  # [batch, seq, 1]
    results = []
    for packed in (True, False):
        model.zero_grad()
        x = model.embedding(batch["ids"])
        output = model.encode(x, batch["lengths"], packed=packed)
        (output * valid * torch.linspace(-1, 1, output.size(2))).sum().backward()
        results.append((output * valid, [p.grad.clone() for p in model.rnn.parameters()]))
    (packed_out, packed_grads), (padded_out, padded_grads) = results
    torch.testing.assert_close(padded_out, packed_out, rtol=1e-5, atol=1e-6)
    for padded_grad, packed_grad in zip(padded_grads, packed_grads):
        torch.testing.assert_close(padded_grad, packed_grad, rtol=1e-4, atol=1e-6)


def test_output_shape_and_gradients():
    model = tiny_model(num_classes=5).train()
    batch = collate([[3, 4, 5], [6], [7, 8]], labels=[0, 4, 2])
    logits = model(batch["ids"], batch["lengths"])
    assert logits.shape == (3, 5)
    torch.nn.functional.cross_entropy(logits, batch["labels"]).backward()
    assert model.embedding.weight.grad is not None
    assert all(p.grad is not None for p in model.rnn.parameters())
    # the padding row never learns: nn.Embedding(padding_idx=0) keeps its gradient at zero
    assert torch.count_nonzero(model.embedding.weight.grad[0]) == 0


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_chunked_texts_are_read_chunk_by_chunk_and_padding_still_changes_nothing(packed):
    model = tiny_model(chunk_length=4, pooling="max+mean")
    text, other = list(range(2, 13)), [20, 21]  # 11 tokens: chunks of 4, 4 and 3
    with torch.no_grad():
        batch = collate([other, text])
        output = model.encode(model.embedding(batch["ids"]), batch["lengths"], packed=packed)
        for start in (0, 4, 8):
            piece = collate([text[start : start + 4]])
            alone = model.encode(model.embedding(piece["ids"]), piece["lengths"], packed=packed)
            torch.testing.assert_close(output[1, start : start + len(text[start : start + 4])], alone[0])
        together = model(batch["ids"], batch["lengths"])[1]
        alone = model(**collate([text]))[0]
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


def test_several_poolings_are_concatenated():
    model = tiny_model(pooling="max+mean")
    batch = collate([[3, 4, 5], [6]])
    with torch.no_grad():
        output = model.encode(model.embedding(batch["ids"]), batch["lengths"])
        both = model.pool(output, batch["lengths"])
        model.config.pooling = "mean"
        mean = model.pool(output, batch["lengths"])
    assert model.head.in_features == 2 * 2 * 12 and both.shape == (2, 48)
    torch.testing.assert_close(both[:, 24:], mean)


def test_padding_embedding_starts_at_zero():
    assert torch.count_nonzero(tiny_model().embedding.weight[0]) == 0


def test_unknown_cell_lists_the_valid_ones():
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        ModelConfig(vocab_size=10, num_classes=2, cell="transformer")


@pytest.mark.parametrize("field,value,message", [
    ("pooling", "attention", "last, mean, max"),
    ("pooling", "max+", "last, mean, max"),
    ("num_classes", 1, "at least 2 classes"),
    ("dropout", 1.0, "dropout"),
    ("hidden_dim", 0, "hidden_dim"),
])
def test_invalid_settings_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{"vocab_size": 10, "num_classes": 2, field: value})


@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_pooling_uses_each_texts_own_final_state(bidirectional):
    # 'last' pooling must equal the RNN's final states (h_n) for each text on its own.
    model = tiny_model(cell="gru", bidirectional=bidirectional, pooling="last")
    batch = collate([[1, 2, 3, 4, 5], [6, 7]])
    with torch.no_grad():
        embedded = model.embedding(batch["ids"])
        _, h_n = model.rnn(embedded[1:, :2])  # the second text alone: [dirs, 1, hidden]
        features = model.pool(model.encode(embedded, batch["lengths"]), batch["lengths"])
    torch.testing.assert_close(features[1], h_n[:, 0].reshape(-1))


def test_word_dropout_acts_only_while_training():
    model = tiny_model(word_dropout=0.5, dropout=0.0)
    batch = collate([list(range(2, 40))])
    with torch.no_grad():
        assert torch.equal(model(batch["ids"], batch["lengths"]), model(batch["ids"], batch["lengths"]))
        model.train()
        torch.manual_seed(1)
        first = model(batch["ids"], batch["lengths"])
        second = model(batch["ids"], batch["lengths"])
    assert not torch.equal(first, second)
