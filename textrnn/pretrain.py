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

import numpy as np
import torch
from torch import nn

from .batching import EncodedSplit, make_loader
from .model import RNNClassifier
from .errors import ConfigError, NonFiniteLossError
from .optim import LossWatch, amp_dtype, make_optimizer, train_step, warmup_cosine

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


def check_pretrainable(config) -> None:
    if config.bidirectional and config.num_layers > 1:
        raise ConfigError("pre-training needs a 1-layer bidirectional model or a unidirectional one "
                         f"(--num-layers {config.num_layers} with both directions would let upper layers "
                         "see the words they must predict)")


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
        output = classifier.dropout(classifier.encode(classifier.embed(ids), lengths))
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


def pretrain_epoch(trained, language_model: LanguageModel, loader, optimizer, scheduler, scaler, watch: LossWatch,
                   config, device, epoch: int) -> float:
    """One pass over the training texts; returns the mean loss per predicted token."""
    language_model.train()
    loader.batch_sampler.set_epoch(epoch)
    loss_sum, count = torch.zeros((), dtype=torch.float64, device=device), 0  # the sum stays on the device
    for step, batch in enumerate(loader, start=1):
        tokens = predicted_tokens(batch["lengths"], language_model.classifier.num_directions)
        if not tokens:
            continue
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=config.amp):
            loss = trained(batch["ids"].to(device, non_blocking=True), batch["lengths"])
        train_step(loss, language_model, optimizer, scheduler, scaler, config.clip, watch,
                   {"stage": "pre-training epoch", "epoch": epoch, "step": step, "steps": len(loader),
                    "lengths": batch["lengths"]})
        loss_sum += loss.detach() * tokens
        count += tokens
    watch.check_weights(language_model)
    return loss_sum.item() / max(count, 1)


def pretrain(classifier: RNNClassifier, train_set: EncodedSplit, valid_set: EncodedSplit, config, device, world,
             log) -> list[dict]:
    """Train the classifier's embedding and RNN as a language model for config.pretrain_epochs epochs."""
    language_model = LanguageModel(classifier).to(device)
    trained = language_model
    if world.world_size > 1:
        trained = nn.parallel.DistributedDataParallel(language_model, device_ids=[device.index] if device.index
                                                      is not None else None)
    loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed, num_replicas=world.world_size,
                         rank=world.rank, pin_memory=device.type == "cuda")
    optimizer = make_optimizer(language_model.parameters(), config.pretrain_lr or config.lr, config.weight_decay)
    total_steps = len(loader) * config.pretrain_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, int(config.warmup * total_steps)))
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and amp_dtype(device) == torch.float16)
    log(f"pre-training the encoder as a {'bidirectional ' if classifier.config.bidirectional else ''}language model "
        f"for {config.pretrain_epochs} epochs ({sum(p.numel() for p in language_model.softmax.parameters()):,} "
        "softmax parameters, dropped afterwards)")
    watch = LossWatch(LossWatch.CUDA_CHECK_EVERY if device.type == "cuda" else 1)
    history = []
    for epoch in range(1, config.pretrain_epochs + 1):
        started = time.time()
        try:
            train_loss = pretrain_epoch(trained, language_model, loader, optimizer, scheduler, scaler, watch, config,
                                        device, epoch)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error}; pre-training stopped (try a lower --pretrain-lr)") from None
        valid_loss = validation_loss(language_model, valid_set, config.batch_size * 4, device, config.amp)
        row = {"pretrain_epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss,
               "valid_perplexity": math.exp(min(valid_loss, 50)), "seconds": time.time() - started}
        history.append(row)
        log(f"| pretrain {epoch:2d} | {row['seconds']:6.1f}s | train loss {train_loss:.4f} "
            f"| valid loss {valid_loss:.4f} perplexity {row['valid_perplexity']:8.1f} |")
    return history
