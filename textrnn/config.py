"""Every setting of a training run in one small dataclass, and the presets for sentences, paragraphs and documents.

The command line's flags are generated from these fields (defaults included),
and the run writes it, resolved, to `train_config.json` beside the model.
"""

import statistics
from dataclasses import asdict, dataclass, fields, replace

from .model import ModelConfig
from .pretrain import check_pretrainable
from .tokenizer import TokenizerConfig

METRICS = ("accuracy", "macro_f1")
EMBEDDING_INITS = ("random", "svd")

# Settings that suit one kind of text and not another. A field left unset (None) takes its preset's value;
# preset "auto" picks one by the training texts' median length in words. Chosen on sentiment sets cut from
# the training splits of SST-2 and IMDB (scripts/derive_sentiment_sets.py) and on AG News and IMDB runs;
# docs/RESULTS.md has them, and how they were judged.
COMMON = {"max_length": 256, "truncation": "head", "embedding_dim": 300, "hidden_dim": 128, "dropout": 0.3,
          "pooling": "max", "batch_size": 32, "lr": 3e-3, "epochs": 10, "pretrain_epochs": 0}
PRESETS = {
    # sentences, phrases, headlines, tweets: a smaller model with larger batches; co-occurrence embeddings and
    # light word dropout gained about a point on both an SST-2-like and an MR-like held-out set
    "sentence": {**COMMON, "embedding_dim": 128, "batch_size": 64, "lr": 2e-3, "word_dropout": 0.2,
                 "embedding_init": "svd"},
    # news items, short reviews, posts: strong word dropout against overfitting a few thousand texts, less than
    # topic data alone would want (0.5), which costs short sentiment reviews half a point
    "paragraph": {**COMMON, "word_dropout": 0.35, "embedding_init": "svd"},
    # reviews and articles of hundreds of words: the ending says as much as the opening
    "document": {**COMMON, "max_length": 512, "truncation": "head+tail", "word_dropout": 0.2, "embedding_init": "svd"},
}
PRESET_FIELDS = tuple(PRESETS["sentence"])
PARAGRAPH_WORDS = 25  # median words per training text from which "auto" picks "paragraph"
DOCUMENT_WORDS = 100  # ... and "document"


def choose_preset(texts) -> str:
    sample = texts[:: max(1, len(texts) // 10_000)]  # an even spread of at most ~10,000 texts
    words = statistics.median(len(text.split()) for text in sample)
    return "document" if words >= DOCUMENT_WORDS else "paragraph" if words >= PARAGRAPH_WORDS else "sentence"


@dataclass
class TrainConfig:
    # data
    dataset: str | None = None  # hub name (name or name:config), local dataset directory or data file
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    text_column: str | None = None  # detected when not given
    label_column: str | None = None
    validation_size: float = 0.1  # share of train held out when the data has no validation split
    output: str = "runs/textrnn"
    force: bool = False  # replace an existing run in output
    preset: str = "auto"  # auto | sentence | paragraph | document: values for the settings marked "from the preset"
    # tokenizer
    tokenizer: str = "word"  # word | bpe
    vocab_size: int = 30_000
    min_freq: int = 2
    max_length: int | None = None  # from the preset
    truncation: str | None = None  # from the preset; head | head+tail: which tokens of a long text to keep
    # model
    cell: str = "lstm"
    embedding_dim: int | None = None  # from the preset
    hidden_dim: int | None = None  # from the preset
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float | None = None  # from the preset
    word_dropout: float | None = None  # from the preset; share of tokens dropped while training
    pooling: str | None = None  # from the preset; last | mean | max, or several joined by '+'
    chunk_length: int = 0  # > 0: the RNN reads long texts in independent chunks of this many tokens
    embedding_init: str | None = None  # from the preset; random | svd: from the training texts' co-occurrence counts
    embeddings: str | None = None  # word vectors in GloVe/word2vec text format
    # optimisation
    batch_size: int | None = None  # from the preset
    epochs: int | None = None  # from the preset
    lr: float | None = None  # from the preset
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient norm clipping
    warmup: float = 0.05  # share of all steps with a linear learning-rate warm-up, then cosine decay
    average_decay: float = 0.0  # > 0: validate and save an exponential moving average of the weights
    pretrain_epochs: int | None = None  # from the preset; language-model epochs on the training texts first
    pretrain_lr: float | None = None  # default: lr
    patience: int = 3  # epochs without a better validation metric before stopping
    metric: str = "accuracy"  # accuracy | macro_f1, on the validation split
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # mixed precision: float16 on CUDA, bfloat16 on the CPU
    progress: bool = True
    # seconds between checkpoints within an epoch (0: at epoch ends only). One costs ~3 copies of the
    # weights on disk (weights and Adam's two moments), so every 10 minutes is cheap even for large models.
    checkpoint_every: float = 600.0
    resume: str | None = None  # a run's output directory or its last/ checkpoint

    def __post_init__(self):
        if self.preset not in ("auto", *PRESETS):
            raise ValueError(f"unknown preset {self.preset!r}: choose one of auto, {', '.join(PRESETS)}")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}: choose one of {', '.join(METRICS)}")
        for name in ("batch_size", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "pretrain_lr"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.pretrain_epochs is not None and self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be 0 or more, got {self.pretrain_epochs}")
        if not 0 < self.validation_size < 1:
            raise ValueError(f"validation_size must be between 0 and 1, got {self.validation_size}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be 0 (epoch ends only) or more seconds, "
                             f"got {self.checkpoint_every}")
        if self.embedding_init is not None and self.embedding_init not in EMBEDDING_INITS:
            raise ValueError(f"unknown embedding_init {self.embedding_init!r}: "
                             f"choose one of {', '.join(EMBEDDING_INITS)}")
        if not 0 <= self.average_decay < 1:
            raise ValueError(f"average_decay must be in [0, 1), got {self.average_decay}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.is_resolved:  # validate every setting before any work starts
            self.tokenizer_config()
            self.model_config(vocab_size=10, num_classes=2)
            if self.pretrain_epochs:
                check_pretrainable(self)

    @property
    def is_resolved(self) -> bool:
        return self.preset != "auto" and all(getattr(self, name) is not None for name in PRESET_FIELDS)

    def resolve(self, texts) -> "TrainConfig":
        """This config with a preset chosen (by the texts, for auto) and every unset setting taken from it."""
        preset = choose_preset(texts) if self.preset == "auto" else self.preset
        values = {name: PRESETS[preset][name] for name in PRESET_FIELDS if getattr(self, name) is None}
        return replace(self, preset=preset, **values)

    def tokenizer_config(self) -> TokenizerConfig:
        return TokenizerConfig(kind=self.tokenizer, vocab_size=self.vocab_size, min_freq=self.min_freq,
                               max_length=self.max_length, truncation=self.truncation)

    def model_config(self, vocab_size: int, num_classes: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, num_classes=num_classes, embedding_dim=self.embedding_dim,
                           hidden_dim=self.hidden_dim, num_layers=self.num_layers, cell=self.cell,
                           bidirectional=self.bidirectional, dropout=self.dropout,
                           word_dropout=self.word_dropout, pooling=self.pooling, chunk_length=self.chunk_length)

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
