r"""Tokenizer and vocabulary, built on Hugging Face `tokenizers`.

Every kind normalises the same way (HTML line breaks to spaces, NFKC, lowercase) and learns its vocabulary
from the training split only; `[PAD]` is id 0 and `[UNK]` id 1.

    word     words and runs of punctuation (`\w+`, `[^\w\s]+`): for scripts written with spaces
    char     the same, but each character of a script written without spaces (Han, kana, Thai, ...) is a
             token of its own, while Latin words, digits and emoji stay whole
    bpe      byte-pair subwords learnt within each word (or clause, in an unspaced script)
    unigram  unigram-LM subwords (as SentencePiece learns them), likewise

`choose_kind` picks one for `--tokenizer auto` from the training texts: `word` uses spaces to find words, so in
a script written without them a whole clause becomes one "word", nearly always unseen at test time.
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from .errors import ConfigError, DataError
from .fileio import atomic_write

PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN]  # order fixes their ids
KINDS = ("word", "char", "bpe", "unigram")
TRUNCATIONS = ("head", "head+tail")

# Scripts written without spaces between words, as Unicode code-point ranges.
UNSPACED_SCRIPTS = {
    "Han": [(0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF),
            (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF)],
    "Hiragana": [(0x3041, 0x309F)],
    "Katakana": [(0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)],
    "Thai": [(0x0E00, 0x0E7F)],
    "Lao": [(0x0E80, 0x0EFF)],
    "Khmer": [(0x1780, 0x17FF), (0x19E0, 0x19FF)],
    "Myanmar": [(0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)],
}
UNSPACED_CLASS = "".join(f"\\x{{{low:X}}}-\\x{{{high:X}}}" for ranges in UNSPACED_SCRIPTS.values()
                         for low, high in ranges)  # an Oniguruma character class body, as `tokenizers` reads it
# From this share of unspaced-script letters in the training texts on, `auto` reads them as such; mixed text
# (a Chinese review quoting English product names) stays well above it, English with a few Chinese words below.
UNSPACED_SHARE = 0.3
UNSPACED_KIND = "unigram"  # what auto picks for them: it beat char by 1.2 points on validation (docs/RESULTS.md)
# ... from this many training texts; on fewer, a 30,000-piece unigram vocabulary keeps whole phrases as pieces, and
# characters did better (docs/RESULTS.md, small-data cuts of online_shopping_zh)
UNSPACED_SUBWORD_TEXTS = 20_000
UNK_WARNING_SHARE = 0.10


@dataclass
class TokenizerConfig:
    kind: str = "word"  # word | char | bpe | unigram
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


def build_pre_tokenizer(kind: str) -> pre_tokenizers.PreTokenizer:
    words = pre_tokenizers.Whitespace()  # \w+ and runs of other symbols; nothing but whitespace is dropped
    if kind != "char":
        return words
    each_character = pre_tokenizers.Split(Regex(f"[{UNSPACED_CLASS}]"), behavior="isolated")
    return pre_tokenizers.Sequence([each_character, words])


def new_model_and_trainer(config: TokenizerConfig):
    options = {"vocab_size": config.vocab_size, "special_tokens": SPECIAL_TOKENS, "show_progress": False}
    if config.kind in ("word", "char"):
        return models.WordLevel(unk_token=UNK_TOKEN), trainers.WordLevelTrainer(min_frequency=config.min_freq,
                                                                                 **options)
    if config.kind == "bpe":
        return models.BPE(unk_token=UNK_TOKEN), trainers.BpeTrainer(min_frequency=config.min_freq, **options)
    return models.Unigram(), trainers.UnigramTrainer(unk_token=UNK_TOKEN, **options)


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig, num_texts: int | None = None) -> Tokenizer:
    """Learn a vocabulary from `texts` (the training split only)."""
    model, trainer = new_model_and_trainer(config)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = build_normalizer(config.lowercase)
    tokenizer.pre_tokenizer = build_pre_tokenizer(config.kind)
    tokenizer.train_from_iterator(texts, trainer=trainer, length=num_texts)
    read_special_tokens_as_text(tokenizer)
    if config.truncation == "head":
        tokenizer.enable_truncation(max_length=config.max_length)  # in Rust, before the ids reach Python
    check_special_tokens(tokenizer)
    return tokenizer


def script_of(character: str) -> str | None:
    """The unspaced script a character belongs to, or None."""
    point = ord(character)
    return next((name for name, ranges in UNSPACED_SCRIPTS.items() if any(low <= point <= high
                                                                         for low, high in ranges)), None)


def choose_kind(texts: Sequence[str], sample_size: int = 5_000) -> tuple[str, str]:
    """(kind, reason) for `--tokenizer auto`: `UNSPACED_KIND` when a large share of the letters of the texts
    (an even sample of them) is in scripts written without spaces, else `word`."""
    sample = texts[:: max(1, len(texts) // sample_size)]
    scripts, letters = Counter(), 0
    for text in sample:
        for character in text:
            if character.isalpha() or script_of(character):  # Thai and Myanmar vowel signs are marks, not alpha
                letters += 1
                scripts[script_of(character)] += 1
    unspaced = sum(count for name, count in scripts.items() if name)
    share = unspaced / max(letters, 1)
    named = ", ".join(f"{name} {count / max(letters, 1):.1%}" for name, count in scripts.most_common() if name)
    if share >= UNSPACED_SHARE:
        found = f"{share:.0%} of the training texts' letters are in scripts written without spaces ({named})"
        if len(texts) < UNSPACED_SUBWORD_TEXTS:
            return "char", (f"{found}, and {len(texts):,} training texts are too few to learn subwords from "
                            f"(under {UNSPACED_SUBWORD_TEXTS:,}), so each of their characters is a token")
        return UNSPACED_KIND, f"{found}, so words are learnt as unigram subwords of them"
    detail = f" ({named})" if named else ""
    return "word", f"{share:.1%} of the training texts' letters are in scripts written without spaces{detail}"


def unknown_share(ids) -> float:
    """The share of [UNK] among token ids (a flat array)."""
    return float((ids == UNK_ID).mean()) if len(ids) else 0.0


def unknown_warning(share: float, kind: str, texts: Sequence[str]) -> str | None:
    """A warning line when more than UNK_WARNING_SHARE of the validation tokens are [UNK], with its likely cause."""
    if share <= UNK_WARNING_SHARE:
        return None
    unspaced_kind, reason = choose_kind(texts)
    if kind == "word" and unspaced_kind != "word":
        cause = (f"{re.split(', (?:so|and) ', reason)[0]}; the word tokenizer reads a whole clause of them as one word, "
                 f"which is rarely seen twice: try --tokenizer {unspaced_kind} (or auto)")
    else:
        cause = ("the validation texts use many words the training texts do not (or too few to keep): try "
                 "--tokenizer bpe or unigram, which split unseen words into known pieces, or a lower --min-freq")
    return f"warning: {share:.1%} of the validation tokens are [UNK], unknown to the vocabulary: {cause}"


def read_special_tokens_as_text(tokenizer: Tokenizer) -> None:
    """A user's text that spells "[PAD]" or "[UNK]" is words like any other, never the padding id: Hugging Face
    tokenizers match added tokens in the raw text unless told not to, and the setting is not saved in
    tokenizer.json, so it is set on every tokenizer that is trained or loaded."""
    tokenizer.encode_special_tokens = True


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
    """Written whole or not at all (a full disk leaves the old file, never half a new one)."""
    atomic_write(path, tokenizer.to_str().encode("utf-8"))


def load_tokenizer(path: str | Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    check_special_tokens(tokenizer, str(path))
    read_special_tokens_as_text(tokenizer)
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
