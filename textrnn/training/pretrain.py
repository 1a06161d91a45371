"""Encoder pre-training from the training texts alone (no label, no outside data), before the labels:

- word vectors from co-occurrence counts: positive PMI of words within a few tokens of each other,
  factored by a truncated SVD (Levy, Goldberg & Dagan 2015), as the embedding's starting point;
- the embedding and RNN as a language model (Dai & Le 2015; Howard & Ruder's ULMFiT).

    textrnn train --dataset ../shared/data/ag_news_small --embedding-init svd --output runs/ag
    textrnn train --dataset ../shared/data/imdb --pretrain-epochs 2 --output runs/imdb

The forward direction's state at each token predicts the next token, the backward direction's state
predicts the previous one (as in ELMo), so no state ever sees the word it must predict. That holds for
one bidirectional layer or a unidirectional stack; upper layers of a bidirectional stack see both sides
of every word, so those models cannot be pre-trained this way. The softmax over the vocabulary is
adaptive (Grave et al. 2017): frequent words get the full hidden state, rare ones a cheap projection,
which keeps its cost near the RNN's own.
"""

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..batching import EncodedSplit, make_loader
from ..errors import NonFiniteLossError
from ..model import RNNClassifier
from .checkpoints import PRETRAIN_STATE_FILE, Checkpoints, describe_position
from .config import check_pretrainable
from .logs import Progress, Reporter, StepWindow, open_reporter, plural
from .optim import amp_dtype, make_optimisation, train_step
from .rundir import StopRequest, TrainingStopped

CUTOFFS = (500, 2_500, 10_000)  # ids are frequency-ranked: the 500 most frequent words are ~75% of tokens


def cooccurrence_vectors(encoded: EncodedSplit, vocab_size: int, dim: int, window: int = 5,
                         seed: int = 0) -> np.ndarray:
    """Word vectors [vocab_size, dim] from the texts' co-occurrence counts, scaled like nn.Embedding's init.

    Pairs within `window` tokens of each other in the same text count 1 / distance; the counts become
    positive PMI with the context distribution smoothed (power 0.75), and U * sqrt(S) of its truncated
    SVD are the vectors.
    """
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    ids = encoded.ids.astype(np.int64)
    text_of = np.repeat(np.arange(len(encoded.lengths)), encoded.lengths)  # [tokens]: which text each is in
    counts = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for distance in range(1, window + 1):
        same_text = text_of[:-distance] == text_of[distance:]
        left, right = ids[:-distance][same_text], ids[distance:][same_text]
        weights = np.full(len(left), 1.0 / distance)
        pairs = sparse.coo_matrix((weights, (left, right)), shape=(vocab_size, vocab_size)).tocsr()
        counts = counts + pairs + pairs.T
    counts = counts.tocoo()
    word_totals = np.asarray(counts.sum(axis=1)).ravel()
    context_totals = word_totals ** 0.75
    pmi = np.log(counts.data * context_totals.sum() / (word_totals[counts.row] * context_totals[counts.col]))
    positive = pmi > 0
    ppmi = sparse.csr_matrix((pmi[positive], (counts.row[positive], counts.col[positive])), shape=counts.shape)
    rank = min(dim, vocab_size - 1)
    u, singular_values, _ = randomized_svd(ppmi, rank, n_iter=5, random_state=seed)
    vectors = np.zeros((vocab_size, dim), dtype=np.float32)
    vectors[:, :rank] = u * np.sqrt(singular_values)
    return vectors / max(vectors.std(), 1e-12)  # entries of standard deviation 1, as nn.Embedding starts


def prediction_pairs(output, ids, lengths, hidden_dim: int, bidirectional: bool):
    """(states [N, hidden], targets [N]): forward states predict the next token, backward ones the previous."""
    # output: [batch, seq, dirs * hidden]; ids: [batch, seq]; lengths: [batch] on ids' device
    steps = torch.arange(ids.size(1) - 1, device=ids.device)
    has_next = steps.unsqueeze(0) < (lengths - 1).unsqueeze(1)  # [batch, seq - 1]: token t + 1 is real
    states, targets = [output[:, :-1, :hidden_dim][has_next]], [ids[:, 1:][has_next]]
    if bidirectional:  # the backward state at t + 1 has read tokens t + 1 onwards; it predicts token t
        states.append(output[:, 1:, hidden_dim:][has_next])
        targets.append(ids[:, :-1][has_next])
    return torch.cat(states), torch.cat(targets)


class LanguageModel(nn.Module):
    """A classifier's embedding and RNN with an adaptive softmax over its vocabulary."""

    def __init__(self, classifier: RNNClassifier):
        super().__init__()
        check_pretrainable(classifier.config)
        self.classifier = classifier
        vocab_size = classifier.config.vocab_size
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(
            classifier.config.hidden_dim, vocab_size, cutoffs=[c for c in CUTOFFS if c < vocab_size - 1] or
            [vocab_size - 2], div_value=4.0)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of every predicted token in the batch."""
        classifier = self.classifier
        output = classifier.dropout(classifier.encode(classifier.embed(ids, classifier.word_mask(ids)), lengths))
        states, targets = prediction_pairs(output, ids, lengths.to(ids.device), classifier.config.hidden_dim,
                                           classifier.config.bidirectional)
        with torch.autocast(ids.device.type, enabled=False):  # the adaptive softmax mixes dtypes otherwise
            return self.softmax(states.float(), targets).loss


def predicted_tokens(lengths: torch.Tensor, directions: int) -> int:
    return int((lengths - 1).sum()) * directions


@torch.inference_mode()
def validation_loss(language_model: LanguageModel, encoded: EncodedSplit, batch_size: int, device, amp: bool) -> float:
    language_model.eval()
    loss_sum, count = 0.0, 0
    for batch in make_loader(encoded, batch_size, shuffle=False):
        tokens = predicted_tokens(batch["lengths"], language_model.classifier.num_directions)
        if tokens:
            with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
                loss = language_model(batch["ids"].to(device), batch["lengths"])
            loss_sum, count = loss_sum + loss.item() * tokens, count + tokens
    return loss_sum / max(count, 1)


class Pretraining:
    """The language model, its optimiser and schedule, and its resumable state in OUTPUT/last/pretrain_state.
    safetensors: saved at every epoch's end, every --checkpoint-every seconds and on Ctrl-C."""

    def __init__(self, classifier: RNNClassifier, texts: EncodedSplit, config, device, world, output: Path,
                 progress: str | None = None):
        self.config, self.device, self.world, self.output, self.progress = config, device, world, output, progress
        self.language_model = LanguageModel(classifier).to(device)
        self.trained = world.wrap(self.language_model, device)
        self.loader = make_loader(texts, config.batch_size, shuffle=True, seed=config.seed,
                                  num_replicas=world.world_size, rank=world.rank, pin_memory=device.type == "cuda")
        self.optimisation = make_optimisation(self.language_model.parameters(), config.pretrain_lr or config.lr,
                                              config.weight_decay, len(self.loader) * config.pretrain_epochs,
                                              config.warmup, config.amp, device)
        self.checkpoints = Checkpoints(output, self.language_model, self.optimisation, None, config.checkpoint_every,
                                       enabled=world.is_main, state_file=PRETRAIN_STATE_FILE)
        self.state = {"epoch": 0, "history": []}
        self.reporter = Reporter()  # TensorBoard's, from pretrain()'s start (--report-to)

    def resume(self, directory: Path) -> None:
        self.state = self.checkpoints.load_state(directory)

    def open_reporter(self) -> None:
        """--report-to tensorboard: OUTPUT/tensorboard/pretrain, from after the checkpoint's step on."""
        done = self.state["epoch"] * len(self.loader) + self.state.get("step", 0)
        self.reporter = open_reporter(self.config, self.output, self.world.is_main, done + 1 if done else None,
                                      pretraining=True)

    def run_epoch(self, epoch: int, after_step) -> tuple[float, list, int]:
        """One pass over the texts, from where a checkpoint within this epoch left off (the state's step and running
        totals of loss and tokens). Returns the mean loss per predicted token, [(fraction of the epoch, loss)] every
        twentieth of it, and the tokens read. after_step(steps done, totals) runs after every step."""
        config, device, loader = self.config, self.device, self.loader
        self.language_model.train()
        done, totals = self.state.pop("step", 0), list(self.state.pop("epoch_totals", None) or [0.0, 0])
        loader.batch_sampler.set_epoch(epoch, skip=done)
        directions = self.language_model.classifier.num_directions
        loss_sum = torch.tensor(totals[0], dtype=torch.float64, device=device)  # stays on the device: no syncs
        every, curve, since, read = max(1, len(loader) // 20), [], [loss_sum.clone(), totals[1]], 0
        progress = Progress(self.progress, f"pre-training epoch {epoch}", len(loader), done, config.progress_every,
                            self.world.log, tokens=True, world_size=self.world.world_size)
        window = StepWindow(float(totals[0]), totals[1]) if self.reporter.enabled else None
        for step, batch in enumerate(loader, start=done + 1):
            tokens = predicted_tokens(batch["lengths"], directions)
            if tokens:
                with torch.autocast(device.type, dtype=amp_dtype(device), enabled=config.amp):
                    loss = self.trained(batch["ids"].to(device, non_blocking=True), batch["lengths"])
                train_step(loss, self.language_model, self.optimisation, config.clip,
                           {"stage": "pre-training epoch", "epoch": epoch, "step": step, "steps": len(loader),
                            "lengths": batch["lengths"]})
                loss_sum += loss.detach() * tokens
                totals[1] += tokens
            read += int(batch["lengths"].sum())
            progress.update(step, len(batch["lengths"]), lambda: loss_sum.item() / max(totals[1], 1),
                            tokens=int(batch["lengths"].sum()))
            if step % every == 0 or step == len(loader):
                curve.append((step / len(loader), (loss_sum - since[0]).item() / max(totals[1] - since[1], 1)))
                since = [loss_sum.clone(), totals[1]]
            if window and ((epoch - 1) * len(loader) + step) % self.reporter.every == 0:
                self.reporter.scalars({"loss/train_steps": window.mean(loss_sum.item(), totals[1])},
                                      (epoch - 1) * len(loader) + step)
            totals[0] = loss_sum  # a tensor until a checkpoint needs its value
            after_step(step, totals)
        progress.close()
        self.optimisation.watch.check_weights(self.language_model)
        return loss_sum.item() / max(totals[1], 1), curve, read

    def epoch(self, epoch: int, valid_set: EncodedSplit, after_step) -> dict:
        """Train an epoch, validate, save the checkpoint; the epoch's row of pretrain_metrics.json."""
        config, started = self.config, time.time()
        try:
            train_loss, curve, read = self.run_epoch(epoch, after_step)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error}; pre-training stopped (try a lower --pretrain-lr)") from None
        valid_loss = validation_loss(self.language_model, valid_set, config.batch_size * 4, self.device, config.amp)
        seconds = time.time() - started
        row = {"pretrain_epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss,
               "valid_perplexity": math.exp(min(valid_loss, 50)), "seconds": seconds,
               "tokens_per_second": read / seconds,
               "train_curve": [[epoch - 1 + fraction, math.exp(min(loss, 50))] for fraction, loss in curve]}
        self.state["history"].append(row)
        self.state["epoch"] = epoch
        self.checkpoints.save_state(self.state)
        self.reporter.scalars({"loss/train": train_loss, "loss/validation": valid_loss,
                               "perplexity/validation": row["valid_perplexity"],
                               "tokens_per_second": row["tokens_per_second"]}, epoch)
        self.reporter.flush()
        return row


def pretrain(classifier: RNNClassifier, texts: EncodedSplit, valid_set: EncodedSplit, config, device, world, log,
             output: Path, resume_dir: Path | None = None, progress: str | None = None) -> list[dict]:
    """Train the classifier's embedding and RNN as a language model on `texts` for config.pretrain_epochs epochs,
    from the checkpoint in resume_dir when it holds one. Ctrl-C saves a checkpoint and raises TrainingStopped.
    progress: logs.progress_mode's 'bar', 'lines' or None."""
    run = Pretraining(classifier, texts, config, device, world, output, progress)
    if resume_dir is not None and (resume_dir / PRETRAIN_STATE_FILE).is_file():
        run.resume(resume_dir)
        log(f"pre-training: resumed {describe_position(run.state)}")
    state = run.state
    log(f"pre-training the encoder as a {'bidirectional ' if classifier.config.bidirectional else ''}language model "
        f"for {plural(config.pretrain_epochs, 'epoch')} on {len(texts):,} texts, {int(texts.lengths.sum()):,} tokens "
        f"({sum(p.numel() for p in run.language_model.softmax.parameters()):,} softmax parameters, dropped "
        "afterwards)")
    run.open_reporter()
    with StopRequest(enabled=world.world_size == 1) as stop:

        def after_step(step: int, totals: list) -> None:
            if stop.requested or run.checkpoints.due():
                run.checkpoints.save_state({**state, "step": step, "epoch_totals": [float(totals[0]), totals[1]]})
            if stop.requested:
                raise TrainingStopped

        try:
            for epoch in range(state["epoch"] + 1, config.pretrain_epochs + 1):
                row = run.epoch(epoch, valid_set, after_step)
                log(f"| pretrain {epoch:2d} | {row['seconds']:6.1f}s | {row['tokens_per_second']:8,.0f} tokens/s | "
                    f"train loss {row['train_loss']:.4f} | valid loss {row['valid_loss']:.4f} perplexity "
                    f"{row['valid_perplexity']:8.1f} |")
                if stop.requested:
                    raise TrainingStopped
        finally:
            run.reporter.close()
    return state["history"]
