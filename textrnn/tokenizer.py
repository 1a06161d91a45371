"""Tokenizer and vocabulary, built on Hugging Face `tokenizers`.

Word-level by default (NFKC, lowercase, HTML line breaks to spaces, words and
punctuation split apart), byte-pair encoding as an option. The vocabulary is
learnt from the training split only; `[PAD]` is id 0 and `[UNK]` id 1.
"""

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from .errors import ConfigError, DataError

PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN]  # order fixes their ids
KINDS = ("word", "bpe")
TRUNCATIONS = ("head", "head+tail")


@dataclass
class TokenizerConfig:
    kind: str = "word"  # word | bpe
    vocab_size: int = 30_000
    min_freq: int = 2
    max_length: int = 256
    # head: the first max_length tokens; head+tail: the first quarter and the last three quarters of
    # them, since a long review's verdict is often at its end.
    truncation: str = "head"
    lowercase: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown tokenizer {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ConfigError(f"vocab_size must be at least {len(SPECIAL_TOKENS) + 1}, got {self.vocab_size}")
        if self.min_freq < 1:
            raise ConfigError(f"min_freq must be at least 1, got {self.min_freq}")
        if self.max_length < 1:
            raise ConfigError(f"max_length must be at least 1, got {self.max_length}")
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"unknown truncation {self.truncation!r}: choose one of {', '.join(TRUNCATIONS)}")

    @property
    def head_length(self) -> int:
        return self.max_length if self.truncation == "head" else self.max_length // 4

    def to_dict(self) -> dict:
        return asdict(self)


def build_normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [
        # IMDB-style reviews keep their HTML line breaks; they are layout, not words.
        normalizers.Replace(Regex(r"(?i)<br\s*/?>"), " "),
        normalizers.NFKC(),
    ]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig, num_texts: int | None = None) -> Tokenizer:
    """Learn a vocabulary from `texts` (the training split only)."""
    if config.kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        trainer = trainers.WordLevelTrainer(
            vocab_size=config.vocab_size, min_frequency=config.min_freq, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    else:
        tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
        trainer = trainers.BpeTrainer(
            vocab_size=config.vocab_size, min_frequency=config.min_freq, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    tokenizer.normalizer = build_normalizer(config.lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ and runs of punctuation
    tokenizer.train_from_iterator(texts, trainer=trainer, length=num_texts)
    if config.truncation == "head":
        tokenizer.enable_truncation(max_length=config.max_length)  # in Rust, before the ids reach Python
    check_special_tokens(tokenizer)
    return tokenizer


def check_special_tokens(tokenizer: Tokenizer, source: str = "the tokenizer") -> None:
    for token, expected in zip(SPECIAL_TOKENS, (PAD_ID, UNK_ID)):
        if tokenizer.token_to_id(token) != expected:
            raise ValueError(f"{source}: {token} must have id {expected}, found {tokenizer.token_to_id(token)}")


def encode_batch(tokenizer: Tokenizer, texts: Sequence[str], config: TokenizerConfig | None = None) -> list[list[int]]:
    """Token ids per text, truncated as `config` says (without one, as the tokenizer itself truncates).

    A text with no tokens at all (empty, whitespace, only unseen symbols dropped by
    the normaliser) becomes a single [UNK], so every sequence has length >= 1 and
    the model still gives an answer for it.
    """
    encodings = tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
    sequences = [encoding.ids or [UNK_ID] for encoding in encodings]
    if config is None or config.truncation == "head":
        return sequences
    head, tail = config.head_length, config.max_length - config.head_length
    return [ids if len(ids) <= config.max_length else ids[:head] + ids[len(ids) - tail :] for ids in sequences]


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> None:
    tokenizer.save(str(path))


def load_tokenizer(path: str | Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    check_special_tokens(tokenizer, str(path))
    return tokenizer


def read_word_vectors(path: str | Path, vocab: dict[str, int], dim: int):
    """Rows for the vocabulary from a GloVe/word2vec text file: (vectors [len(vocab), dim], found mask).

    A word2vec header line ("count dim") is skipped; tokens match exactly, else by
    their lowercase form. Tokens without a vector keep found=False.
    """
    import numpy as np

    vectors = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    lowered: dict[str, list[int]] = {}
    for token, index in vocab.items():
        lowered.setdefault(token.lower(), []).append(index)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            parts = line.rstrip().split(" ")
            if line_number == 1 and len(parts) == 2:
                continue  # word2vec text header
            if len(parts) != dim + 1:
                raise DataError(f"{path}, line {line_number}: {len(parts) - 1} values, but the embedding "
                                 f"dimension is {dim} (set --embedding-dim to the file's dimension)")
            word = parts[0]
            targets = [vocab[word]] if word in vocab else lowered.get(word.lower(), [])
            if not targets:
                continue
            try:
                vector = np.asarray(parts[1:], dtype=np.float32)
            except ValueError as error:
                raise DataError(f"{path}, line {line_number}: the vector of {word!r} is not numbers "
                                 f"({error})") from None
            if not np.isfinite(vector).all():  # NaN, inf, or too large for float32: training would give NaN
                raise DataError(f"{path}, line {line_number}: the vector of {word!r} has values that are not "
                                 "finite float32 numbers")
            for index in targets:
                if not found[index] or word in vocab:
                    vectors[index] = vector
                    found[index] = True
    return vectors, found
