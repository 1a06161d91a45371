"""The linear n-gram model beside the network: fitted once the network is trained, its share chosen on validation.

TF-IDF + logistic regression is strong on small data and short texts, where a recurrent network alone loses to it.
So every model trained with `--linear-ngrams N` (N > 0, the default) ends as a mix of the two (model.py): the
network's logits and a logistic regression's on the text's distinct 1..N-grams of tokens, TF-IDF-weighted and
L2-normalised. The regression's C and its share of the logits are both chosen on the validation split, share 0
(the network alone) and 1 (the regression alone) included, so the mix is at least as good as either part there.

The features come from the model's own `linear_columns` (the same hashing, the same distinct n-grams), so what
scikit-learn fits is what PyTorch and ONNX compute; a test checks the two agree.
"""

from dataclasses import replace

import numpy as np
import scipy.sparse
import torch
from sklearn.preprocessing import normalize

from ..batching import BucketBatchSampler, EncodedSplit, collate
from ..model import RNNClassifier

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)  # the regression's inverse regularisation, tried from the strongest
SHARES = tuple(step / 20 for step in range(21))  # the linear model's share of the logits: 0, 0.05, ..., 1
BATCH = 256
MIN_BUCKETS, MAX_BUCKETS = 2**16, 2**22


def choose_buckets(train_tokens: int) -> int:
    """Hashed ids for the runs of 2+ tokens: a power of two at least twice the training tokens (a text of t tokens
    holds t - 1 pairs), so that few distinct n-grams share one; 65,536 to 4,194,304 (16 MB of index)."""
    buckets = MIN_BUCKETS
    while buckets < 2 * train_tokens and buckets < MAX_BUCKETS:
        buckets *= 2
    return buckets


def batches(split: EncodedSplit):
    """(the rows, their batch) over the split, shortest texts first, as validation batches them: a batch in the
    split's own order is padded to its longest text, and the network ran 10x as long over such batches (4.8 s for
    4,745 validation texts)."""
    for rows in BucketBatchSampler(split.lengths, BATCH, shuffle=False).global_batches():
        yield rows, collate([split[i][0] for i in rows])


def in_split_order(split: EncodedSplit, outputs) -> torch.Tensor:
    """[len(split), ...]: the model's outputs over batches(split), each row back at its text's place."""
    rows, values = zip(*outputs)
    ordered = torch.empty((len(split), *values[0].shape[1:]), dtype=values[0].dtype)
    ordered[torch.from_numpy(np.concatenate(rows))] = torch.cat(values)
    return ordered


@torch.no_grad()
def gram_matrix(model: RNNClassifier, split: EncodedSplit) -> scipy.sparse.csr_matrix:
    """[texts, hashed ids] 0/1: the distinct n-grams of each text, as model.linear_columns reads them with an
    identity index (every hashed id its own column)."""
    rows, columns = [], []
    for texts, batch in batches(split):
        grams = model.linear_columns(batch["ids"], batch["lengths"])  # [batch, positions]; 0: repeat or padding
        row, position = grams.nonzero(as_tuple=True)
        rows.append(texts[row.numpy()])
        columns.append(grams[row, position].numpy())
    rows, columns = np.concatenate(rows), np.concatenate(columns)
    shape = (len(split), model.linear_index.numel())
    return scipy.sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)


@torch.no_grad()
def network_logits(model: RNNClassifier, split: EncodedSplit) -> torch.Tensor:
    model.eval()
    return in_split_order(split, ((rows, model.network_logits(batch["ids"], batch["lengths"]).float())
                                  for rows, batch in batches(split)))


@torch.no_grad()
def model_linear_logits(model: RNNClassifier, split: EncodedSplit) -> torch.Tensor:
    return in_split_order(split, ((rows, model.linear_logits(batch["ids"], batch["lengths"]))
                                  for rows, batch in batches(split)))


def add_linear_model(network: RNNClassifier, task, train: EncodedSplit, valid: EncodedSplit, config,
                     log) -> tuple[RNNClassifier, dict]:
    """The trained network (on the CPU) with a linear model beside it: (the mixed model, a summary for
    config.json). The n-grams kept are those in at least --min-freq training texts; C and the share maximise the
    validation metric (ties: the lower validation loss, the training loss's)."""
    buckets = choose_buckets(int(train.lengths.sum()))
    identity = replace(network.config, linear_ngrams=config.linear_ngrams, linear_buckets=buckets,
                       linear_features=1, linear_share=0.0)
    probe = RNNClassifier(identity, device="meta")  # the n-gram hashing alone: no weights are read
    probe.linear_index = torch.arange(network.config.vocab_size + buckets, dtype=torch.int32)
    grams_train, grams_valid = gram_matrix(probe, train), gram_matrix(probe, valid)
    kept, idf = choose_columns(grams_train, config.min_freq, network.config.pad_id)
    features_train, features_valid = (normalize(grams[:, kept].multiply(idf).tocsr()) for grams in
                                      (grams_train, grams_valid))
    log(f"linear model: {len(kept):,} distinct 1- to {config.linear_ngrams}-grams in at least {config.min_freq} "
        f"training texts (of {grams_train.getnnz(axis=0).astype(bool).sum():,}; {buckets:,} hash buckets for "
        f"{int(train.lengths.sum()):,} training tokens)")
    c, weights, bias = fit_regression(task, features_train, features_valid, train, valid, config.metric, log)
    model = RNNClassifier(replace(identity, linear_features=len(kept) + 1))
    model.load_state_dict(network.state_dict(), strict=False)
    with torch.no_grad():
        model.linear_index.zero_()
        model.linear_index[torch.from_numpy(kept)] = torch.arange(1, len(kept) + 1, dtype=torch.int32)
        model.linear_idf[1:] = torch.from_numpy(idf)
        model.linear.weight.zero_()
        model.linear.weight[1:] = torch.from_numpy(weights)
        model.linear_bias.copy_(torch.from_numpy(bias))
    summary = choose_share(model, task, valid, config.metric, task.loss(config, train.labels, "cpu"), log)
    return model, {"C": c, "min_count": config.min_freq, **summary}


def choose_columns(grams_train: scipy.sparse.csr_matrix, min_count: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(the hashed ids that get a column: in at least min_count training texts, their smoothed idf as
    scikit-learn's TfidfVectorizer computes it)."""
    counts = np.asarray(grams_train.sum(axis=0)).ravel()
    counts[pad_id] = 0
    kept = np.flatnonzero(counts >= min_count)
    return kept, np.log((1 + grams_train.shape[0]) / (1 + counts[kept])) + 1


def fit_regression(task, features_train, features_valid, train: EncodedSplit, valid: EncodedSplit, metric: str,
                   log) -> tuple[float, np.ndarray, np.ndarray]:
    """(C, weights, bias) of the task's logistic regression with the best validation metric, C_GRID tried from the
    strongest regularisation until the score falls."""
    best, fit = None, task.linear_fits(features_train, train.labels)
    for c in C_GRID:
        weights, bias = fit(c)
        logits = torch.from_numpy(features_valid @ weights + bias).float()
        score = task.validation_metrics(logits, valid.labels)[metric]
        log(f"    C {c:g}: validation {metric} {score:.2%}")
        if best is not None and score < best[0]:
            break  # the score rises to one peak and falls after it; the larger C cost the most to fit
        if best is None or score > best[0]:
            best = (score, c, weights, bias)
    return best[1:]


def choose_share(model: RNNClassifier, task, valid: EncodedSplit, metric: str, loss, log) -> dict:
    """Set the linear model's share of the logits to the one with the best validation metric; its summary."""
    network, linear = network_logits(model, valid), model_linear_logits(model, valid)
    targets = torch.from_numpy(valid.labels)
    scored = []
    for share in SHARES:
        mixed = (1 - share) * network + share * linear
        scored.append((task.validation_metrics(mixed, valid.labels)[metric], -float(loss(mixed, targets)), share))
    score, _, share = max(scored)
    model.config.linear_share = share
    parts = {"network": scored[0][0], "linear": scored[-1][0], "mixed": score}
    log(f"linear model's share {share:.2f}: validation {metric} {score:.2%} (network alone {parts['network']:.2%}, "
        f"linear model alone {parts['linear']:.2%})")
    return {"share": share, "metric": metric, "validation": parts}
