"""Two regularisers a run may switch on: AWD-LSTM's weight drop on the recurrent weights, and adversarial training
on the embeddings (Miyato et al. 2017). Off by default; docs/RESULTS.md has what each gained or lost."""

import json

import pytest
import torch
from helpers import TINY_MODEL, make_texts, write_csv

from textrnn.batching import collate
from textrnn.cli import main
from textrnn.errors import ConfigError
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.training.config import TrainConfig


def batch(lengths=(5, 3, 4), vocab=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return collate([torch.randint(1, vocab, (length,), generator=generator).tolist() for length in lengths])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_draws_a_mask_per_batch_while_training_and_none_at_inference(cell):
    torch.manual_seed(0)
    config = dict(vocab_size=40, num_classes=3, embedding_dim=8, hidden_dim=6, cell=cell, dropout=0.0,
                  word_dropout=0.0)
    dropping, plain = RNNClassifier(ModelConfig(**config, weight_drop=0.5)), RNNClassifier(ModelConfig(**config))
    plain.load_state_dict(dropping.state_dict())
    inputs = batch()
    dropping.eval(), plain.eval()
    torch.testing.assert_close(dropping(inputs["ids"], inputs["lengths"]), plain(inputs["ids"], inputs["lengths"]))
    # a batch without padding too: the path that would otherwise run the module whole
    full = batch(lengths=(4, 4))
    dropping.train(), plain.train()
    first, second = (dropping(full["ids"], full["lengths"]) for _ in range(2))
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, plain(full["ids"], full["lengths"]))
    first.sum().backward()
    assert dropping.rnn.weight_hh_l0.grad is not None and dropping.rnn.weight_hh_l0.grad.abs().sum() > 0


def test_weight_drop_is_checked():
    with pytest.raises(ValueError, match="weight_drop"):
        ModelConfig(vocab_size=10, num_classes=2, weight_drop=1.0)
    with pytest.raises(ConfigError, match="weight_drop"):
        TrainConfig(weight_drop=-0.1)


def test_adversarial_step_raises_the_loss_and_trains_on_both():
    """The moved pass's loss is above the clean one (the step goes up the gradient), and the objective is both."""
    from textrnn.tasks import make_task
    from textrnn.training.loop import FineTuning

    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=40, num_classes=2, embedding_dim=8, hidden_dim=6))
    inputs = batch(lengths=(5, 3, 4, 2))
    labels = torch.tensor([0, 1, 1, 0])
    task = make_task("single", ["neg", "pos"])
    tuning = FineTuning.__new__(FineTuning)  # the one method under test needs only these
    tuning.model, tuning.device, tuning.loss = model, torch.device("cpu"), task.loss(TrainConfig(), labels.numpy(), "cpu")
    model.train()
    for epsilon in (0.0, 1.0):
        tuning.config = TrainConfig(adversarial=epsilon)
        torch.manual_seed(1)
        logits, loss, objective = tuning.batch_loss(model, inputs["ids"], inputs["lengths"], labels)
        if not epsilon:
            clean = loss.item()
            assert objective is loss
            continue
        # the same dropout draws as the clean pass: the same loss before the step
        assert loss.item() == pytest.approx(clean, rel=1e-6)
        assert objective.item() - loss.item() > loss.item()
        objective.backward()
        assert model.embedding.weight.grad.abs().sum() > 0


def test_a_run_with_both_trains_saves_and_records_them(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    write_csv(train, make_texts(120, seed=1))
    write_csv(test, make_texts(40, seed=2))
    output = tmp_path / "model"
    assert main(["train", "--train-file", str(train), "--test-file", str(test), "--output", str(output),
                 "--epochs", "2", "--weight-drop", "0.3", "--adversarial", "1.0", *TINY_MODEL]) == 0
    saved = json.loads((output / "config.json").read_text())
    assert saved["model"]["weight_drop"] == 0.3
    assert json.loads((output / "train_config.json").read_text())["adversarial"] == 1.0
    report = json.loads((output / "eval_report.json").read_text())
    assert report["num_examples"] == 40 and 0.0 <= report["accuracy"] <= 1.0
