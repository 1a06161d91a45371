"""Every setting of a training run in one small dataclass.

The command line's flags are generated from these fields (defaults included),
and the run writes it to `train_config.json` beside the model.
"""

from dataclasses import asdict, dataclass, fields

from .model import ModelConfig
from .tokenizer import TokenizerConfig

METRICS = ("accuracy", "macro_f1")


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
    # tokenizer
    tokenizer: str = "word"  # word | bpe
    vocab_size: int = 30_000
    min_freq: int = 2
    max_length: int = 256
    # model
    cell: str = "lstm"
    embedding_dim: int = 300
    hidden_dim: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    word_dropout: float = 0.2
    pooling: str = "max"
    embeddings: str | None = None  # word vectors in GloVe/word2vec text format
    # optimisation
    batch_size: int = 32
    epochs: int = 10
    lr: float = 3e-3
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient norm clipping
    warmup: float = 0.05  # share of all steps with a linear learning-rate warm-up, then cosine decay
    patience: int = 3  # epochs without a better validation metric before stopping
    metric: str = "accuracy"  # accuracy | macro_f1, on the validation split
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # float16 mixed precision, CUDA only
    progress: bool = True
    # seconds between checkpoints within an epoch (0: at epoch ends only). One costs ~3 copies of the
    # weights on disk (weights and Adam's two moments), so every 10 minutes is cheap even for large models.
    checkpoint_every: float = 600.0
    resume: str | None = None  # a run's output directory or its last/ checkpoint

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}: choose one of {', '.join(METRICS)}")
        for name in ("batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 < self.validation_size < 1:
            raise ValueError(f"validation_size must be between 0 and 1, got {self.validation_size}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be 0 (epoch ends only) or more seconds, "
                             f"got {self.checkpoint_every}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        self.tokenizer_config()  # validate those settings before any work starts

    def tokenizer_config(self) -> TokenizerConfig:
        return TokenizerConfig(kind=self.tokenizer, vocab_size=self.vocab_size, min_freq=self.min_freq,
                               max_length=self.max_length)

    def model_config(self, vocab_size: int, num_classes: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, num_classes=num_classes, embedding_dim=self.embedding_dim,
                           hidden_dim=self.hidden_dim, num_layers=self.num_layers, cell=self.cell,
                           bidirectional=self.bidirectional, dropout=self.dropout,
                           word_dropout=self.word_dropout, pooling=self.pooling)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
