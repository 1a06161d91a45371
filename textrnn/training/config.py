"""Every setting of a training run in one small dataclass, and the presets for sentences, paragraphs and documents.

Each field carries its command-line flag's help text, group and choices (`setting`), and the flags are
generated from the fields, as Hugging Face's HfArgumentParser does; the choices are the modules' own
constants. A run writes the config, resolved, to `train_config.json` beside the model.
"""

import json
import math
import statistics
import typing
from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import ConfigError
from ..tokenizer import KINDS, TRUNCATIONS, TokenizerConfig, choose_kind

# model.py's CELLS and POOLINGS (a test checks they agree): model.py imports torch, which the command line's
# flags must not wait for
CELLS = ("rnn", "lstm", "gru")
POOLINGS = ("last", "mean", "max")
METRICS = ("accuracy", "macro_f1")
WEIGHTINGS = ("none", "balanced")
PROBLEM_TYPES = ("auto", "single", "multi")
EMBEDDING_INITS = ("random", "svd")
REPORT_TO = ("none", "tensorboard")

# Settings that suit one kind of text and not another. A field left unset (None) takes its preset's value;
# preset "auto" picks one by the training texts' median length in words. Chosen on sentiment sets cut from
# the training splits of SST-2 and IMDB (scripts/derive_sentiment_sets.py) and on AG News and IMDB runs;
# docs/RESULTS.md has them, and how they were judged.
COMMON = {"max_length": 256, "truncation": "head", "embedding_dim": 300, "hidden_dim": 128, "dropout": 0.3,
          "pooling": "max", "batch_size": 32, "lr": 3e-3, "epochs": 10, "pretrain_epochs": 0, "ngrams": 0,
          "linear_ngrams": 2}
PRESETS = {
    # sentences, phrases, headlines, tweets: a smaller model with larger batches; co-occurrence embeddings and
    # light word dropout gained about a point on both an SST-2-like and an MR-like held-out set
    "sentence": {**COMMON, "embedding_dim": 128, "batch_size": 64, "lr": 2e-3, "word_dropout": 0.2,
                 "embedding_init": "svd"},
    # news items, short reviews, posts: strong word dropout against overfitting a few thousand texts, less than
    # topic data alone would want (0.5), which costs short sentiment reviews half a point
    "paragraph": {**COMMON, "word_dropout": 0.35, "embedding_init": "svd"},
    # reviews and articles of hundreds of words: the ending says as much as the opening; a bag of words and word
    # pairs beside the RNN gained on IMDB's held-out validation and test alike (docs/RESULTS.md)
    "document": {**COMMON, "max_length": 512, "truncation": "head+tail", "word_dropout": 0.2, "embedding_init": "svd",
                 "ngrams": 2},
}
PRESET_FIELDS = tuple(PRESETS["sentence"])
# the settings `textrnn tune` searches (tune.SEARCH_SPACE says over which values)
SEARCHABLE = ("lr", "hidden_dim", "embedding_dim", "dropout", "word_dropout", "num_layers", "cell", "pooling",
              "max_length", "batch_size", "ngrams")
# How a run reports (log, progress, TensorBoard), never what it trains: a resumed run may change them (train.open_run)
REPORTING = ("quiet", "progress_every", "report_to", "log_every")
PARAGRAPH_WORDS = 25  # median words per training text from which "auto" picks "paragraph"
DOCUMENT_WORDS = 100  # ... and "document"


CHARACTER_NGRAMS = 3  # the linear model's n-grams over character tokens: TF-IDF's character 1-3 grams
# A long text makes an epoch costly, and a large corpus gives the network its updates in few epochs: the document
# preset trains for as many epochs as make this many updates, at least DOCUMENT_MIN_EPOCHS and at most its own.
# IMDB's 22,500 training texts (704 batches an epoch) get 3, which tied 10 on validation over 3 seeds in 60% of
# the time; 2,000 and 5,000 of them keep 10, where 3 left the network short (docs/RESULTS.md).
DOCUMENT_UPDATES = 2000
DOCUMENT_MIN_EPOCHS = 3


def median_words(texts) -> float:
    sample = texts[:: max(1, len(texts) // 10_000)]  # an even spread of at most ~10,000 texts
    return statistics.median(len(text.split()) for text in sample)


def choose_preset(texts) -> str:
    words = median_words(texts)
    return "document" if words >= DOCUMENT_WORDS else "paragraph" if words >= PARAGRAPH_WORDS else "sentence"


def document_epochs(texts: int, batch_size: int, most: int) -> int:
    """The document preset's epochs for this many training texts: enough for DOCUMENT_UPDATES batches."""
    batches = math.ceil(texts / batch_size)
    return max(DOCUMENT_MIN_EPOCHS, min(most, math.ceil(DOCUMENT_UPDATES / batches)))


def describe_auto_choices(asked: "TrainConfig", resolved: "TrainConfig", texts, tokenizer_reason: str) -> dict:
    """{setting: {"value", "reason"}} for each setting `auto` (or a preset) chose from the training texts: what
    the log says and config.json keeps."""
    choices = {}
    if asked.preset == "auto":
        choices["preset"] = (resolved.preset, f"median {median_words(texts):g} words per training text (sentence: "
                             f"under {PARAGRAPH_WORDS}, paragraph: under {DOCUMENT_WORDS}, document: more)")
    if asked.tokenizer == "auto":
        choices["tokenizer"] = (resolved.tokenizer, tokenizer_reason)
    if asked.linear_ngrams is None:
        why = (f"character tokens: the distinct runs of 1 to {CHARACTER_NGRAMS} characters, as TF-IDF's character "
               "n-grams" if resolved.tokenizer == "char" else
               f"{resolved.tokenizer} tokens: the distinct runs of 1 to {resolved.linear_ngrams}, the preset's")
        choices["linear_ngrams"] = (resolved.linear_ngrams, why)
    if asked.epochs is None and resolved.preset == "document":
        batches = math.ceil(len(texts) / resolved.batch_size)
        choices["epochs"] = (resolved.epochs, f"{len(texts):,} training texts are {batches:,} batches of "
                             f"{resolved.batch_size}: the fewest epochs that make {DOCUMENT_UPDATES:,} updates, "
                             f"from {DOCUMENT_MIN_EPOCHS} to {PRESETS['document']['epochs']}")
    return {name: {"value": value, "reason": reason} for name, (value, reason) in choices.items()}


def check_pretrainable(config) -> None:
    """Language-model pre-training (pretrain.py) predicts each token from one side of it only."""
    if config.bidirectional and config.num_layers > 1:
        raise ConfigError("pre-training needs a 1-layer bidirectional model or a unidirectional one "
                          f"(--num-layers {config.num_layers} with both directions would let upper layers "
                          "see the words they must predict)")


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: from low to high, each end included unless said otherwise."""

    low: float
    high: float
    low_included: bool = True
    high_included: bool = True

    def holds(self, value) -> bool:
        above = value >= self.low if self.low_included else value > self.low
        below = value <= self.high if self.high_included else value < self.high
        return above and below

    def describe(self, value) -> str:
        if value < self.low or (value == self.low and not self.low_included):
            return f"at least {self.low:,}" if self.low_included else f"above {self.low:,}"
        return f"at most {self.high:,}" if self.high_included else f"below {self.high:,}"


SHARE = Range(0, 1, high_included=False)  # dropouts, decays, the warm-up: 1 would leave nothing
POSITIVE = Range(0, math.inf, low_included=False)  # learning rates: any finite one may be tried
# The upper ends lie far above any real run; they stop a mistyped value (--vocab-size 2**64, --ngram-buckets 1e11)
# before a library overflows on it or tries to allocate terabytes.
RANGES = {
    "validation_size": Range(0, 1, low_included=False, high_included=False), "checkpoint_every": Range(0, 1e7),
    "vocab_size": Range(3, 10_000_000), "min_freq": Range(1, 1e9), "max_length": Range(1, 1_000_000),
    "embedding_dim": Range(1, 100_000), "hidden_dim": Range(1, 100_000), "num_layers": Range(1, 64),
    "dropout": SHARE, "word_dropout": SHARE, "weight_drop": SHARE, "adversarial": Range(0, 1000),
    "chunk_length": Range(0, 1_000_000), "ngrams": Range(0, 16), "linear_ngrams": Range(0, 16),
    "ngram_buckets": Range(1, 50_000_000), "ngram_dim": Range(1, 4096), "batch_size": Range(1, 1_000_000),
    "epochs": Range(1, 100_000), "lr": POSITIVE, "weight_decay": Range(0, 10),
    "clip": Range(0, 1e6, low_included=False), "warmup": SHARE, "average_decay": SHARE,
    "pretrain_epochs": Range(0, 100_000), "pretrain_lr": POSITIVE,
    "patience": Range(1, 100_000), "seed": Range(0, 2**32 - 1),
    "progress_every": Range(0, 1e7), "log_every": Range(1, 1e9),
}


def field_types(spec) -> tuple[type, ...]:
    """The types a field's annotation allows (int | None -> (int, NoneType))."""
    return tuple(kind for kind in (*typing.get_args(spec.type), spec.type) if isinstance(kind, type))


def check_setting(spec, value) -> None:
    """A setting's type (an int is no bool; a float may be written as an int), choices and range."""
    kinds = field_types(spec)
    allowed = kinds + ((int,) if float in kinds else ())
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in kinds)
        raise ConfigError(f"{spec.name} must be {names}, got {value!r}")
    choices = spec.metadata.get("choices")
    if choices and value is not None and value not in choices:
        raise ConfigError(f"unknown {spec.name} {value!r}: choose one of {', '.join(choices)}")
    bounds = RANGES.get(spec.name)
    if bounds is None or value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{spec.name} must be a finite number, got {value}")
    if not bounds.holds(value):
        raise ConfigError(f"{spec.name} must be {bounds.describe(value)}, got {value:,}")


def setting(default, help: str, group: str, **flag_options):
    """A TrainConfig field that carries its command-line flag: help text, group in --help, and argparse
    options (choices, metavar, ...). The flags are generated from these (cli.add_config_arguments)."""
    return field(default=default, metadata={"help": help, "group": group, **flag_options})


def flag_name(name: str) -> str:
    """The command-line flag of a TrainConfig field: --max-length; a switch that is on by default, --no-progress."""
    spec = next(spec for spec in fields(TrainConfig) if spec.name == name)
    return f"--{'no-' if spec.type is bool and spec.default else ''}{name.replace('_', '-')}"


@dataclass
class TrainConfig:
    # data
    dataset: str | None = setting(None, "hub name (imdb, name:config), local dataset directory or data file", "data")
    train_file: str | None = setting(None, "csv, tsv, json, jsonl or parquet file", "data", metavar="FILE")
    validation_file: str | None = setting(
        None, "(without one, a stratified share of train is held out)", "data", metavar="FILE")
    test_file: str | None = setting(None, "(without one, the final report is on the validation split)", "data",
                                    metavar="FILE")
    text_column: str | None = setting(None, "default: detected (text, sentence, review, content, ...)", "data")
    label_column: str | None = setting(None, "default: detected (label, labels, sentiment, ...)", "data")
    label_columns: str | None = setting(None, "multi-label data as 0/1 columns, one per label: their names, "
                                        "comma-separated (a,b,c)", "data")
    label_separator: str | None = setting(None, "multi-label data as one text column of label names joined by this "
                                          "separator (',', '|' or ';')", "data", metavar="SEP")
    problem_type: str = setting("auto", "single: one label per text; multi: any number (lists, --label-separator "
                                "or --label-columns); auto: multi when the labels come in one of those shapes",
                                "data", choices=PROBLEM_TYPES)
    validation_size: float = setting(0.1, "share of train held out when the data has no validation split", "data")
    # the run
    output: str = setting("runs/textrnn", "run directory", "run", aliases=("-o",))
    force: bool = setting(False, "replace an existing run in --output", "run")
    resume: str | None = setting(None, "continue an interrupted or finished run (default: --output's last/ "
                                 "checkpoint); only --epochs, --patience, --device, --amp, --no-progress, "
                                 "--checkpoint-every and how it reports (--quiet, --progress-every, --report-to, "
                                 "--log-every) may change", "run", nargs="?",
                                 const="auto", metavar="DIR")
    preset: str = setting("auto", "settings for sentences (median under 25 words), paragraphs (25 to 99) or "
                          "documents (100 or more); auto picks by the training texts' median length. A flag given "
                          "explicitly wins over its preset", "run", choices=("auto", *PRESETS))
    # One checkpoint costs ~3 copies of the weights on disk (weights and Adam's two moments), so every 10
    # minutes is cheap even for large models.
    checkpoint_every: float = setting(600.0, "save a resumable checkpoint this often within an epoch (0: at epoch "
                                      "ends only)", "run", metavar="SECONDS")
    # tokenizer
    tokenizer: str = setting("auto", "word: words and punctuation; char: each character of a script written "
                             "without spaces (Chinese, Japanese, Thai, ...) a token, other words whole; bpe, unigram: "
                             "learnt subwords; auto: unigram when a large share of the training texts' letters is "
                             "in such scripts, else word", "tokenizer", choices=("auto", *KINDS))
    vocab_size: int = setting(30_000, "largest vocabulary, special tokens included", "tokenizer")
    min_freq: int = setting(2, "fewest occurrences in train for a token to get its own id", "tokenizer")
    max_length: int | None = setting(None, "tokens kept per text", "tokenizer")
    truncation: str | None = setting(None, "which tokens of a long text to keep: its first ones, or its first "
                                     "quarter and last three quarters", "tokenizer", choices=TRUNCATIONS)
    # model
    cell: str = setting("lstm", "recurrent cell", "model", choices=tuple(CELLS))
    embedding_dim: int | None = setting(None, "size of a token's vector", "model")
    hidden_dim: int | None = setting(None, "units of the RNN per direction", "model")
    num_layers: int = setting(1, "stacked RNN layers", "model")
    bidirectional: bool = setting(True, "read each text in both directions; --no-bidirectional reads forward only",
                                  "model")
    dropout: float | None = setting(None, "dropout on the embeddings, between layers and before the head", "model")
    word_dropout: float | None = setting(None, "share of tokens dropped (embedding zeroed) while training", "model")
    weight_drop: float = setting(0.0, "share of the recurrent (hidden-to-hidden) weights dropped while training, one "
                                 "mask a batch, as AWD-LSTM does (0: off)", "model")
    pooling: str | None = setting(None, f"{', '.join(POOLINGS)} over the RNN outputs, or several joined by '+' "
                                  "(max+mean)", "model")
    chunk_length: int = setting(0, "read long texts in independent chunks of this many tokens (0: whole texts); "
                                "pooling still spans the whole text", "model")
    ngrams: int | None = setting(None, "join a bag of n-grams to the RNN state, fastText-style: every run of 1 to "
                                 "this many tokens gets a learnt vector (2: words and word pairs; 0: off)", "model")
    ngram_buckets: int = setting(500_000, "hashed vectors shared by the runs of 2 tokens or more", "model")
    ngram_dim: int = setting(32, "size of an n-gram's vector", "model")
    linear_ngrams: int | None = setting(None, "mix a TF-IDF logistic regression over the distinct runs of 1 to this "
                                        "many tokens into the logits, fitted after the network, its C and share "
                                        "chosen on validation (0: the network alone)", "model")
    embedding_init: str | None = setting(None, "starting embedding table: random, or svd: word vectors of the "
                                         "training texts' co-occurrence counts (random when --embeddings is given)",
                                         "model", choices=EMBEDDING_INITS)
    embeddings: str | None = setting(None, "starting word vectors, GloVe/word2vec text format; they win over the "
                                     "preset's embedding_init", "model", metavar="FILE")
    # optimisation
    batch_size: int | None = setting(None, "texts per training batch", "optimisation")
    epochs: int | None = setting(None, "most epochs (early stopping may end sooner)", "optimisation")
    lr: float | None = setting(None, "peak learning rate of AdamW", "optimisation")
    weight_decay: float = setting(0.01, "AdamW weight decay", "optimisation")
    clip: float = setting(1.0, "gradient norm clipping", "optimisation")
    warmup: float = setting(0.05, "share of all steps with a linear learning-rate warm-up, then cosine decay",
                            "optimisation")
    adversarial: float = setting(0.0, "adversarial training on the embeddings (Miyato et al. 2017): each batch is "
                                 "also trained on its embedded tokens moved this far (L2 norm per text) along the "
                                 "loss's gradient; about twice the time a step (0: off)", "optimisation")
    average_decay: float = setting(0.0, "keep, validate and save an exponential moving average of the weights with "
                                   "this decay per step (0.999, say); 0: off", "optimisation")
    pretrain_epochs: int | None = setting(None, "epochs of language-model pre-training of the encoder on the "
                                          "training texts first", "optimisation")
    unlabeled: str = setting("auto", "texts without labels that pre-training reads too: a split of --dataset, or a "
                             "csv/json/parquet/txt file; auto: the data set's 'unsupervised' or 'unlabeled' split when "
                             "it has one; none: the training texts only", "optimisation", metavar="SPLIT_OR_FILE")
    pretrain_lr: float | None = setting(None, "learning rate of pre-training (default: --lr)", "optimisation")
    class_weight: str = setting("none", "balanced: weight each class's loss by n / (classes x its count), so rare "
                                "classes count as much as common ones (single-label data)", "optimisation",
                                choices=WEIGHTINGS)
    pos_weight: str = setting("auto", "balanced: weight each label's positives by its negatives / positives "
                              "(multi-label data); auto: balanced for multi-label data, none otherwise",
                              "optimisation", choices=("auto", *WEIGHTINGS))
    patience: int = setting(3, "epochs without a better validation metric before stopping", "optimisation")
    metric: str = setting("accuracy", "validation metric for early stopping and the best epoch (multi-label data and "
                          "--class-weight balanced: macro_f1 unless given; for multi-label data, accuracy is the "
                          "share of texts with every label right)",
                          "optimisation", choices=METRICS)
    seed: int = setting(0, "seed of the initial weights, the held-out split, shuffling and dropout", "optimisation")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N", "optimisation")
    amp: bool = setting(False, "mixed precision: float16 on CUDA; bfloat16 on a CPU whose kernels run it (else "
                        "float32, said in the log)", "optimisation")
    progress: bool = setting(True, "progress within an epoch: a bar on a terminal, else a line every "
                             "--progress-every seconds; --no-progress shows neither", "optimisation")
    # reporting: how a run tells what it does; none of it changes the model, so a resumed run may change any of it
    quiet: bool = setting(False, "errors only: no log line on stdout (warnings that matter go to stderr)", "reporting")
    progress_every: float = setting(30.0, "where stderr is not a terminal (a file, a pipe), print a progress line "
                                    "this often within an epoch (0: never)", "reporting", metavar="SECONDS")
    report_to: str = setting("none", "tensorboard: loss, accuracy, macro-F1 and learning rate per epoch, and the "
                             "training loss every --log-every steps, in OUTPUT/tensorboard (needs the tensorboard "
                             "package: pip install 'textrnn[tensorboard]')", "reporting", choices=REPORT_TO)
    log_every: int = setting(50, "with --report-to: the training loss (its mean over these steps) every this many "
                             "steps", "reporting", metavar="STEPS")

    def __post_init__(self):
        for spec in fields(self):  # every value checked before any work starts: nothing is lost to a typo
            check_setting(spec, getattr(self, spec.name))
        if self.embeddings and self.embedding_init == "svd":
            raise ConfigError("embeddings (a word vectors file) and embedding_init 'svd' both give the starting "
                              "embedding table: choose one")
        if self.label_separator is not None and not self.label_separator.strip():
            raise ConfigError("label_separator must be a character such as ',', '|' or ';', not whitespace or empty")
        if self.label_columns is not None and (len(set(self.label_column_list)) < 2 or not all(self.label_column_list)):
            raise ConfigError(f"label_columns must name 2 or more distinct columns, comma-separated; got "
                              f"{self.label_columns!r}")
        if self.is_resolved:
            self.check_resolved()

    def check_resolved(self) -> None:
        """The settings that only make sense together, once the preset has filled in the rest."""
        self.tokenizer_config()
        try:
            self.model_config(vocab_size=10, num_classes=2)
        except ValueError as error:  # model.py imports only torch: its checks raise plain ValueError
            raise ConfigError(str(error)) from None
        if self.pretrain_epochs:
            check_pretrainable(self)
        elif self.unlabeled != "auto":
            raise ConfigError("unlabeled texts feed language-model pre-training, which is off (pretrain_epochs "
                              "0): give --pretrain-epochs too, or leave --unlabeled out")
        elif self.pretrain_lr is not None:
            raise ConfigError("pretrain_lr is the learning rate of language-model pre-training, which is off "
                              "(pretrain_epochs 0): give --pretrain-epochs too, or leave --pretrain-lr out")

    @property
    def label_column_list(self) -> list[str] | None:
        return [name.strip() for name in self.label_columns.split(",")] if self.label_columns else None

    @property
    def is_resolved(self) -> bool:
        return (self.preset != "auto" and self.tokenizer != "auto"
                and all(getattr(self, name) is not None for name in PRESET_FIELDS))

    def resolve(self, texts) -> "TrainConfig":
        """This config with the tokenizer and preset chosen (by the texts, for auto) and every unset setting taken
        from the preset."""
        preset = choose_preset(texts) if self.preset == "auto" else self.preset
        values = {name: PRESETS[preset][name] for name in PRESET_FIELDS if getattr(self, name) is None}
        if self.tokenizer == "auto":
            values["tokenizer"] = choose_kind(texts)[0]
        if self.linear_ngrams is None and values.get("tokenizer", self.tokenizer) == "char" and values["linear_ngrams"]:
            values["linear_ngrams"] = CHARACTER_NGRAMS
        if self.embeddings and self.embedding_init is None:
            values["embedding_init"] = "random"  # the user's word vectors start the table, not the preset's
        if self.epochs is None and preset == "document":
            values["epochs"] = document_epochs(len(texts), values.get("batch_size", self.batch_size), values["epochs"])
        return replace(self, preset=preset, **values)

    def tokenizer_config(self) -> TokenizerConfig:
        return TokenizerConfig(kind=self.tokenizer, vocab_size=self.vocab_size, min_freq=self.min_freq,
                               max_length=self.max_length, truncation=self.truncation)

    def model_config(self, vocab_size: int, num_classes: int):
        from ..model import ModelConfig

        return ModelConfig(vocab_size=vocab_size, num_classes=num_classes, embedding_dim=self.embedding_dim,
                           hidden_dim=self.hidden_dim, num_layers=self.num_layers, cell=self.cell,
                           bidirectional=self.bidirectional, dropout=self.dropout,
                           word_dropout=self.word_dropout, weight_drop=self.weight_drop, pooling=self.pooling,
                           chunk_length=self.chunk_length, ngrams=self.ngrams, ngram_buckets=self.ngram_buckets,
                           ngram_dim=self.ngram_dim)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in values.items() if key in known}
        # A run saved before the presets were renamed (0.x "short"/"long") still resumes: its settings are resolved.
        preset = values.get("preset", "auto")
        values["preset"] = {"short": "sentence", "long": "document"}.get(preset, preset)
        return cls(**values)


def read_config_file(path) -> dict:
    """The settings in a JSON file of TrainConfig fields (`textrnn train --config FILE`; tune's best_config.json),
    each checked against its field's type. Unknown names are refused, never ignored."""
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config {path} is not a JSON file in UTF-8: {error}") from None
    except RecursionError:  # a hostile file of deeply nested brackets
        raise ConfigError(f"--config {path} is nested too deeply to be a file of settings") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path} must hold one JSON object of settings, {{\"lr\": 0.001, ...}}")
    specs = {spec.name: spec for spec in fields(TrainConfig)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"--config {path}: unknown settings {', '.join(map(repr, unknown))}; the names are the "
                          "flags' without -- and with _ for - (max_length, ...)")
    for name, value in values.items():
        try:
            check_setting(specs[name], value)
        except ConfigError as error:
            raise ConfigError(f"--config {path}: {error}") from None
    return values
