"""The bag of n-grams trains at the cost of the rows a batch reads: a sparse gradient, clipped with the rest by the
global norm, and a lazy Adam update (LazyAdamW) of those rows only, saved and resumed exactly."""

import json
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from helpers import TINY_MODEL
from test_resume import EVERY_STEP, KILL_AFTER_STEP, assert_same_results, saved_position

from textrnn.batching import collate
from textrnn.checkpoint import read_safetensors
from textrnn.cli import main
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.training.checkpoints import OPTIMIZER_KEYS, STATE_FILE, save_training_state
from textrnn.training.optim import LazyAdamW, clip_gradients, make_optimisation, sparse_bag, train_step

BAG = ["--ngrams", "2", "--ngram-buckets", "1000", "--average-decay", "0.9"]  # the weight average rides along
BATCH = collate([[5, 9, 3, 7], [7, 2], [11, 12, 13]], labels=[0, 1, 0])
CPU = torch.device("cpu")


def bag_model(seed: int = 0) -> RNNClassifier:
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=40, num_classes=2, embedding_dim=8, hidden_dim=6, ngrams=2, ngram_buckets=60,
                         ngram_dim=5, dropout=0.0, word_dropout=0.0)  # no randomness in the step: paths compare
    return RNNClassifier(config).train()


def one_step(model: RNNClassifier, sparse: bool, weight_decay: float, loss_scale: float = 1.0, clip: float = 1e9):
    """One real training step of `model` on BATCH, the bag sparse (LazyAdamW) or dense (AdamW as before)."""
    optimisation = make_optimisation(model.parameters(), 0.01, weight_decay, 10, 0.0, False, CPU,
                                     sparse=sparse_bag(model, sparse))
    loss = torch.nn.functional.cross_entropy(model(BATCH["ids"], BATCH["lengths"]), BATCH["labels"]) * loss_scale
    train_step(loss, model, optimisation, clip, {"epoch": 1, "step": 1, "steps": 1, "lengths": BATCH["lengths"]})
    return optimisation


def touched_rows(model: RNNClassifier) -> torch.Tensor:
    grams = model.ngram_ids(BATCH["ids"], BATCH["lengths"]).unique()
    return grams[grams != model.config.pad_id]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_the_bag_has_a_sparse_gradient_and_rows_no_batch_read_stay_as_they_were(weight_decay):
    model = bag_model()
    before = model.ngram_embedding.weight.detach().clone()
    optimisation = one_step(model, sparse=True, weight_decay=weight_decay)
    grad = model.ngram_embedding.weight.grad
    assert grad.is_sparse and grad.is_coalesced()
    assert [type(optimizer) for optimizer in optimisation.optimizers] == [torch.optim.AdamW, LazyAdamW]
    assert all(parameter is not model.ngram_embedding.weight
               for parameter in optimisation.optimizers[0].param_groups[0]["params"])
    rows = touched_rows(model)
    assert sorted(grad.indices()[0].tolist()) == rows.tolist()  # the rows the batch read, and no padding row
    after = model.ngram_embedding.weight.detach()
    untouched = torch.ones(len(before), dtype=torch.bool)
    untouched[rows] = False
    assert torch.equal(after[untouched], before[untouched])  # neither moved nor decayed: nobody read them
    assert torch.equal(after[model.config.pad_id], torch.zeros(5))
    assert (after[rows] != before[rows]).all(dim=1).all()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_one_sparse_step_is_adamw_s_step_on_the_rows_it_touches(weight_decay):
    # Adam's first step is lr * g / (|g| + eps) for any moment decay, with bias correction; SparseAdam puts its eps
    # before the bias correction (eps / sqrt(1 - beta2), ~3e-7), so the loss is scaled up until eps cannot tell.
    sparse, dense = bag_model(), bag_model()
    start = dense.ngram_embedding.weight.detach().clone()
    one_step(sparse, sparse=True, weight_decay=weight_decay, loss_scale=1e4)
    one_step(dense, sparse=False, weight_decay=weight_decay, loss_scale=1e4)
    assert dense.ngram_embedding.weight.grad.layout == torch.strided  # the dense path is today's
    rows = touched_rows(sparse)
    for (name, got), want in zip(sparse.named_parameters(), dense.parameters()):
        if name != "ngram_embedding.weight":
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6, msg=name)
    got, want = sparse.ngram_embedding.weight.detach(), dense.ngram_embedding.weight.detach()
    torch.testing.assert_close(got[rows], want[rows], rtol=0, atol=1e-6)
    untouched = torch.ones(len(got), dtype=torch.bool)
    untouched[rows] = False
    # AdamW decays every row each step; the lazy update leaves those nobody read as they were
    torch.testing.assert_close(want[untouched], start[untouched] * (1 - 0.01 * weight_decay), rtol=0, atol=1e-7)
    assert torch.equal(got[untouched], start[untouched])


def test_clipping_with_a_sparse_gradient_is_by_the_global_norm_of_every_gradient():
    sparse, dense = bag_model(), bag_model()
    sparse_bag(sparse, True)
    for model in (sparse, dense):
        torch.nn.functional.cross_entropy(model(BATCH["ids"], BATCH["lengths"]), BATCH["labels"]).backward()
    with pytest.raises(NotImplementedError):  # why textrnn clips on its own: torch's has no sparse norm
        torch.nn.utils.clip_grad_norm_(sparse.parameters(), 1.0)
    assert not sparse.ngram_embedding.weight.grad.is_coalesced()  # a row read twice in BATCH is two entries yet
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in dense.parameters()))
    clipped_norm = clip_gradients(sparse.parameters(), float(norm) / 4)
    expected_norm = torch.nn.utils.clip_grad_norm_(dense.parameters(), float(norm) / 4)
    torch.testing.assert_close(clipped_norm, expected_norm)
    for (name, got), want in zip(sparse.named_parameters(), dense.parameters()):
        torch.testing.assert_close(got.grad.to_dense(), want.grad, msg=name)
    after = torch.sqrt(sum(p.grad.to_dense().pow(2).sum() for p in sparse.parameters()))
    torch.testing.assert_close(after, norm / 4, rtol=1e-5, atol=0)
    grads = [p.grad.to_dense().clone() for p in sparse.parameters()]
    clip_gradients(sparse.parameters(), float(norm))  # under the limit: untouched
    assert all(torch.equal(p.grad.to_dense(), g) for p, g in zip(sparse.parameters(), grads))


def train_args(sentiment_files, output) -> list[str]:
    return ["train", "--train-file", str(sentiment_files["train"]), "--test-file", str(sentiment_files["test"]),
            "--output", str(output), "--epochs", "2", "--seed", "3", *TINY_MODEL, *BAG]


@pytest.fixture(scope="module")
def straight_bag_run(sentiment_files, tmp_path_factory):
    output = tmp_path_factory.mktemp("straight_bag") / "run"
    assert main(train_args(sentiment_files, output)) == 0
    return output


@pytest.mark.slow
def test_training_with_the_bag_keeps_its_state_in_the_sparse_optimiser_and_learns(straight_bag_run):
    tensors, metadata = read_safetensors(straight_bag_run / "last" / STATE_FILE)
    bag = tensors["model.ngram_embedding.weight"]
    sparse_state = {key: t for key, t in tensors.items() if key.startswith("sparse_optimizer.")}
    assert sorted(sparse_state) == ["sparse_optimizer.0.exp_avg", "sparse_optimizer.0.exp_avg_sq",
                                    "sparse_optimizer.0.step"]
    assert sparse_state["sparse_optimizer.0.exp_avg"].shape == bag.shape
    assert int(sparse_state["sparse_optimizer.0.step"]) == 2 * 34  # 540 training texts in batches of 16, 2 epochs
    dense_shapes = [t.shape for key, t in tensors.items() if key.startswith("optimizer.")]
    assert bag.shape not in dense_shapes  # AdamW no longer holds the table
    assert json.loads(metadata["sparse_optimizer_param_groups"])[0]["weight_decay"] == 0.01
    assert json.loads(metadata["sparse_scheduler"])["last_epoch"] == json.loads(metadata["scheduler"])["last_epoch"]
    rows = [json.loads(line) for line in (straight_bag_run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["valid_accuracy"] > 0.8  # an easy task: chance is 0.5
    assert json.loads((straight_bag_run / "eval_report.json").read_text())["accuracy"] > 0.8


@pytest.mark.slow
def test_a_run_with_the_bag_killed_mid_epoch_resumes_to_the_same_result(straight_bag_run, sentiment_files, tmp_path):
    output = tmp_path / "killed"
    command = [sys.executable, "-c", KILL_AFTER_STEP.format(step=40), *train_args(sentiment_files, output),
               *EVERY_STEP]  # step 40: in the second epoch, after the first one's schedule and sparse steps
    process = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert saved_position(output)["epoch"] == 1 and saved_position(output)["step"] == 5
    assert main(["train", "--resume", "--output", str(output), "--no-progress"]) == 0
    assert_same_results(output, straight_bag_run)
    for directory in (output, straight_bag_run):  # the raw weights and both optimisers' moments too
        assert (directory / "last" / STATE_FILE).is_file()
    resumed, straight = (read_safetensors(d / "last" / STATE_FILE)[0] for d in (output, straight_bag_run))
    for key in straight:
        if key.startswith(("model.", "average.", "optimizer.", "sparse_optimizer.")):
            torch.testing.assert_close(resumed[key], straight[key], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.slow
def test_a_checkpoint_whose_bag_was_dense_is_refused_in_one_line(straight_bag_run, tmp_path, capsys):
    """As textrnn wrote them before the sparse bag: one AdamW over every parameter, the table included."""
    run = shutil.copytree(straight_bag_run, tmp_path / "run")
    state = run / "last" / STATE_FILE
    tensors, metadata = read_safetensors(state)
    model = RNNClassifier(ModelConfig(**json.loads((run / "last" / "config.json").read_text())["model"]))
    dense = make_optimisation(model.parameters(), 0.01, 0.01, 68, 0.1, False, CPU)
    save_training_state(run / "last", model, dense.optimizers[0], dense.schedulers[0], dense.scaler,
                        json.loads(metadata["trainer_state"]))
    assert not any(OPTIMIZER_KEYS[1][1] == key for key in read_safetensors(state)[1])
    assert main(["train", "--resume", "--output", str(run), "--no-progress", "--epochs", "3"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert f"cannot resume from {state}: it was saved by a run that updated the bag of n-grams densely" in error


def test_a_nan_in_the_sparse_gradient_alone_is_found_by_the_loss_watch():
    from textrnn.errors import NonFiniteLossError
    from textrnn.training.optim import LossWatch

    model = bag_model()
    sparse_bag(model, True)
    loss = torch.nn.functional.cross_entropy(model(BATCH["ids"], BATCH["lengths"]), BATCH["labels"])
    loss.backward()
    model.ngram_embedding.weight.grad._values()[0, 0] = float("nan")  # as an overflow in one bag row would leave
    norm = clip_gradients(model.parameters(), 1.0)
    assert torch.isnan(norm) and torch.isfinite(loss)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1 of 1 .*: the gradient norm is nan$"):
        LossWatch().add(loss, norm, {"epoch": 1, "step": 1, "steps": 1, "lengths": BATCH["lengths"]})



@pytest.mark.slow
def test_two_process_training_on_gloo_averages_the_sparse_gradient(sentiment_files, tmp_path):
    output = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "textrnn",
               *train_args(sentiment_files, output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stdout
    tensors, _ = read_safetensors(output / "last" / STATE_FILE)
    assert int(tensors["sparse_optimizer.0.step"]) == 2 * 17  # each rank steps through half of the 34 batches
    assert json.loads((output / "eval_report.json").read_text())["accuracy"] > 0.8
