"""A training run's inputs: the data, the settings resolved for it, the tokenizer and the encoded splits.

Everything is read and checked before an earlier run in --output is replaced: a bad file, column or setting loses
nothing. The choices made for the data (preset, tokenizer, the label shape's settings) are logged with their reasons.
"""

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..batching import EncodedSplit
from ..checkpoint import TOKENIZER_FILE
from ..data import TextClassificationData, encode_split, load_splits, prepare_data, quiet_datasets, unlabeled_texts
from ..errors import ConfigError
from ..label_lists import column_values
from ..fileio import remove_temporaries
from ..model import RNNClassifier
from ..tokenizer import (choose_kind, load_tokenizer, read_word_vectors, save_tokenizer, train_tokenizer,
                         unknown_share, unknown_warning)
from .config import describe_auto_choices, TrainConfig
from .pretrain import cooccurrence_vectors
from .rundir import clear_output


def read_data(config: TrainConfig, given: set[str], saved: dict | None, log):
    """The data as the config asks, checked against the settings that depend on its shape, and the config resolved
    for it (tokenizer, preset). Returns (data, config, how the tokenizer was chosen, unlabelled texts for
    pre-training and where they come from, or None)."""
    quiet_datasets()
    raw = load_splits(config.dataset, config.train_file, config.validation_file, config.test_file)
    data = prepare_data(raw, config.text_column, config.label_column, saved["labels"] if saved else None,
                        config.validation_size, config.seed, problem_type=config.problem_type,
                        label_separator=config.label_separator, label_columns=config.label_column_list)
    if "validation_size" in given and not data.held_out:
        raise ConfigError("--validation-size holds out a share of train when the data has no validation split, "
                          "and this data has one; leave the flag out, or give only --train-file")
    config = data.task.training_settings(config, choose_metric="metric" not in given and not saved)
    tokenizer_choice = saved.get("tokenizer_choice") if saved else None
    auto_choices = saved.get("auto_choices") if saved else None
    if not config.is_resolved:
        tokenizer_choice = {"asked": config.tokenizer, "reason": "as asked"}
        asked, train_texts = config, column_values(data.train, "text")
        if config.tokenizer == "auto":
            kind, tokenizer_choice["reason"] = choose_kind(train_texts)
            config = replace(config, tokenizer=kind)
        config = config.resolve(train_texts)
        auto_choices = describe_auto_choices(asked, config, train_texts, tokenizer_choice["reason"])
        for name in ("preset", "tokenizer", "linear_ngrams"):  # what auto chose says why; the rest was asked for
            reason = auto_choices[name]["reason"] if name in auto_choices else "as asked"
            log(f"{name}: {getattr(config, name)} ({reason})")
        if "epochs" in auto_choices:  # the document preset's, by the corpus size
            log(f"epochs: {config.epochs} ({auto_choices['epochs']['reason']})")
    unlabeled = unlabeled_texts(raw, config.unlabeled, data.text_column) if config.pretrain_epochs else None
    if unlabeled:
        log(f"pre-training: on the training texts and the {len(unlabeled[0]):,} texts of {unlabeled[1]} "
            f"(--unlabeled {config.unlabeled}; never used for accuracy)")
    return data, config, tokenizer_choice, auto_choices, unlabeled


@dataclass
class Inputs:
    """What a run reads before it builds a model."""

    data: TextClassificationData
    config: TrainConfig  # resolved for the data
    tokenizer_choice: dict | None
    auto_choices: dict | None  # {setting: {"value", "reason"}} of what auto chose (config.describe_auto_choices)
    unlabeled: tuple[list[str], str] | None  # texts for pre-training, and where they come from
    tokenizer: object  # tokenizers.Tokenizer, as saved in the run directory
    train_set: EncodedSplit
    valid_set: EncodedSplit
    vectors: tuple[np.ndarray, np.ndarray] | None  # the user's word vectors and the rows found, rank 0 only

    @property
    def task(self):
        return self.data.task


def read_inputs(config: TrainConfig, given: set[str], run, world) -> Inputs:
    """Read and resolve everything; on a new run, train and save the tokenizer once the old run is cleared.
    run: the Run being trained (training/train.py), for its directory and what it resumes."""
    data, config, tokenizer_choice, auto_choices, unlabeled = read_data(config, given, run.saved, world.log)
    tokenizer_config = config.tokenizer_config()
    tokenizer_path = (run.resume_dir or run.output) / TOKENIZER_FILE
    vectors = None
    if world.is_main and not run.resume_dir:
        tokenizer = train_tokenizer(column_values(data.train, "text"), tokenizer_config, num_texts=len(data.train))
        if config.embeddings:
            vectors = read_word_vectors(config.embeddings, tokenizer.get_vocab(), config.embedding_dim)
        clear_output(run.output, run.earlier)  # only now that every input has been read: an error in one loses nothing
        save_tokenizer(tokenizer, tokenizer_path)
    if world.is_main and run.resume_dir:
        for directory in (run.output, run.resume_dir):
            remove_temporaries(directory)  # left by writes that a kill cut short
    world.barrier()  # every rank uses rank 0's vocabulary
    tokenizer = load_tokenizer(tokenizer_path)
    train_set = encode_split(data.train, tokenizer, tokenizer_config, data.task)
    valid_set = encode_split(data.validation, tokenizer, tokenizer_config, data.task)
    inputs = Inputs(data, config, tokenizer_choice, auto_choices, unlabeled, tokenizer, train_set, valid_set, vectors)
    log_inputs(inputs, world.log)
    return inputs


def log_inputs(inputs: Inputs, log) -> None:
    data, config, train_set, valid_set = inputs.data, inputs.config, inputs.train_set, inputs.valid_set
    log(f"data: {len(train_set):,} train, {len(valid_set):,} validation"
        f"{f' (held out: {config.validation_size:.0%} of train)' if data.held_out else ''}, "
        f"{len(data.test) if data.test is not None else 'no'} test texts; columns {data.text_column!r} -> "
        f"{data.label_column or data.label_columns!r}; {inputs.task.describe()}")
    log(f"tokenizer: {config.tokenizer}, {inputs.tokenizer.get_vocab_size():,} tokens, "
        f"mean length {train_set.lengths.mean():.1f} (max {config.max_length}); "
        f"{unknown_share(valid_set.ids):.1%} of the validation tokens are [UNK]")
    if warning := unknown_warning(unknown_share(valid_set.ids), config.tokenizer,
                                 column_values(data.validation, "text")):
        log(warning)


def init_embedding_table(model: RNNClassifier, config: TrainConfig, train_set, vectors, log) -> None:
    """The starting embedding table: the rows found in the user's word vectors file (`vectors`: the vectors and
    the found mask), or co-occurrence vectors of the training texts, or else nn.Embedding's random start."""
    weight = model.embedding.weight
    if vectors is not None:
        vectors, found = vectors
        with torch.no_grad():
            weight[torch.from_numpy(found)] = torch.from_numpy(vectors[found])
        log(f"embeddings: {found.sum():,} of {len(found):,} vocabulary tokens ({found.mean():.1%}) found in "
            f"{config.embeddings}")
    elif config.embedding_init == "svd":
        started = time.time()
        table = cooccurrence_vectors(train_set, model.config.vocab_size, model.config.embedding_dim, seed=config.seed)
        with torch.no_grad():
            weight.copy_(torch.from_numpy(table))
        log(f"embeddings: from the training texts' co-occurrence counts (PPMI + SVD) in {time.time() - started:.1f}s")
    with torch.no_grad():
        weight[model.config.pad_id] = 0.0
