"""Saved models and training checkpoints: safetensors and JSON only, never pickle.

A model directory holds:
    config.json          model and tokenizer settings, label names, format and package version
    model.safetensors    the weights
    tokenizer.json       the Hugging Face tokenizer, vocabulary included
An exported directory (`textrnn export`, textrnn/export.py) holds model.onnx in place of model.safetensors;
textrnn.load runs it with onnxruntime (textrnn/onnx_backend.py).
A training checkpoint (the `last/` directory of a run) is a model directory plus the training state:
training/checkpoints.py.
"""

import hashlib
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .version import __version__
from .errors import ModelDirError
from .fileio import atomic_write, atomic_write_json
from .metrics import INVERSE_TEMPERATURE_RANGE
from .model import CELLS, POOLINGS, ModelConfig, RNNClassifier
from .tokenizer import KINDS, SPECIAL_TOKENS, TRUNCATIONS, TokenizerConfig, load_tokenizer

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
ONNX_FILE = "model.onnx"  # an exported model: read by onnxruntime, used only where model.safetensors is absent
# Never read: a pickle can run any code while it loads. Named in the error when one stands in for the weights.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# config.json's record of the tokenizer.json the weights were trained with: sha256 of its bytes as written
TOKENIZER_DIGEST = "tokenizer_sha256"


def save_model_dir(directory, model: RNNClassifier, tokenizer, tokenizer_config: TokenizerConfig,
                   label_names: list[str], extra: dict | None = None) -> Path:
    write_model_description(directory, model.config, tokenizer, tokenizer_config, label_names, extra)
    return write_weights(directory, model)


def write_model_description(directory, model_config: ModelConfig, tokenizer, tokenizer_config: TokenizerConfig,
                            label_names: list[str], extra: dict | None = None) -> Path:
    """config.json and tokenizer.json: what the weights mean. They stay the same through a training run,
    so a run writes them once and then only replaces model.safetensors, which is one atomic file: the
    three files agree at every moment, whenever the run is killed."""
    directory = Path(directory)
    config = {
        "format": "textrnn",
        "format_version": FORMAT_VERSION,
        "textrnn_version": __version__,
        "model": model_config.to_dict(),
        "tokenizer": tokenizer_config.to_dict(),
        "labels": list(label_names),
        **(extra or {}),
    }
    tokenizer_bytes = tokenizer.to_str().encode()
    config[TOKENIZER_DIGEST] = tokenizer_digest(tokenizer_bytes)
    atomic_write(directory / TOKENIZER_FILE, tokenizer_bytes)
    atomic_write_json(directory / CONFIG_FILE, config)
    return directory


def tokenizer_digest(tokenizer_bytes: bytes) -> str:
    return hashlib.sha256(tokenizer_bytes).hexdigest()


def update_config(directory, **values) -> None:
    """Set entries of a model directory's config.json (a multi-label model's tuned thresholds, say); the rest,
    the tokenizer's digest included, stays as it was."""
    directory = Path(directory)
    atomic_write_json(directory / CONFIG_FILE, {**read_config(directory), **values})


def write_weights(directory, model: RNNClassifier) -> Path:
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write(Path(directory) / WEIGHTS_FILE, save_safetensors_bytes(weights, metadata={"format": "pt"}))
    return Path(directory)


def read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        # RecursionError: a hostile file of deeply nested brackets; ValueError: JSON's, and an integer of more
        # digits than Python converts (sys.get_int_max_str_digits)
        raise ModelDirError(f"{path}: cannot read the model config: {type(error).__name__}: {error}") from None
    if not isinstance(config, dict) or config.get("format") != "textrnn":
        raise ModelDirError(f"{path}: not a textrnn model config")
    version = config.get("format_version")
    if not is_int(version) or version < 1:
        raise ModelDirError(f"{path}: format_version must be an integer from 1, got {describe(version)}")
    if version > FORMAT_VERSION:
        raise ModelDirError(
            f"{path}: format version {version!r} is newer than this textrnn ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade textrnn"
        )
    return config


# config.json's schema: every field's type and range, checked before anything is built from it, so that a damaged
# or hostile file is a ModelDirError naming the field, never a TypeError deep in torch. The upper bounds are far
# above any real model and keep every size made of them (a table's rows x width, an n-gram's hash) well inside
# int64, so that nothing overflows or is allocated before check_weights compares shapes on the meta device.
MAX_VOCAB = 2**24  # 16.8M tokens: far above the largest vocabularies in use (fastText's 2M words, XLM-R's 250k)
MAX_WIDTH = 2**16  # embedding, hidden and n-gram vector sizes: 50 to 1,024 in practice; an LSTM layer this wide
#                    would hold 34 billion weights
MAX_LAYERS = 64  # stacked RNN layers: nobody trains more than about 8
MAX_CLASSES = 2**20  # labels: the largest extreme multi-label sets (Amazon-670k) fit
MAX_NGRAMS = 32  # the longest word runs in the bag: fastText uses up to 5, longer ones are all but unique
MAX_BUCKETS = 2**24  # hashed n-gram ids: fastText's default is 2M; bucket x NGRAM_HASH_MULTIPLIER stays below 2**45
MAX_TOKENS = 2**20  # max_length and chunk_length: a million tokens, some 4,000 pages of one text
MAX_MIN_FREQ = 2**31 - 1  # a count of training texts: read only while training
PROBLEM_TYPES = ("single", "multi")  # tasks.TASKS' keys (tasks.py is not imported here: it pulls in torch's losses)
# How each task reads config.json's temperature: one for the softmax, or one per label's sigmoid.
TEMPERATURE_PER_LABEL = {"single": False, "multi": True}
# What calibration fits (1 / T in metrics.INVERSE_TEMPERATURE_RANGE); a T near 0 would make logits / T overflow.
TEMPERATURE_RANGE = (1 / INVERSE_TEMPERATURE_RANGE[1], 1 / INVERSE_TEMPERATURE_RANGE[0])


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to config.json


def is_number(value) -> bool:
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))  # JSON allows NaN and Infinity


def describe(value) -> str:
    return f"{value!r:.80} ({type(value).__name__})"


def integer(low: int, high: int):
    def check(value):
        if not is_int(value) or not low <= value <= high:
            return f"must be an integer from {low} to {high:,}, got {describe(value)}"
    return check


def number(low: float, high: float, high_included: bool = True):
    def check(value):
        if not is_number(value) or not (low <= value <= high if high_included else low <= value < high):
            return f"must be a number in [{low}, {high}{']' if high_included else ')'}, got {describe(value)}"
    return check


def choice(choices):
    def check(value):
        if not isinstance(value, str) or value not in choices:
            return f"must be one of {', '.join(map(repr, choices))}, got {describe(value)}"
    return check


def of_type(kind: type, name: str):
    def check(value):
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            return f"must be {name}, got {describe(value)}"
    return check


def optional(check):
    return lambda value: None if value is None else check(value)


def pooling(value):
    if not isinstance(value, str) or not all(part in POOLINGS for part in value.split("+")):
        return (f"must be one of {', '.join(POOLINGS)} or several joined by '+' (max+mean), "
                f"got {describe(value)}")


def strings(value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"must be a list of strings, got {describe(value)}"


def thresholds(value):
    if not isinstance(value, list) or not all(is_number(item) and 0 <= item <= 1 for item in value):
        return f"must be a list of numbers in [0, 1], one per label, got {describe(value)}"


def temperature(value):
    low, high = TEMPERATURE_RANGE
    if not all(is_number(item) and low <= item <= high for item in (value if isinstance(value, list) else [value])):
        return (f"must be a number in [{low:g}, {high:g}], or a list of them (one per label), "
                f"got {describe(value)}")


def hex_digest(value):
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        return f"must be a sha256 digest (64 lowercase hexadecimal digits), got {describe(value)}"


MODEL_FIELDS = {  # ModelConfig's fields; vocab_size and num_classes are required, the rest have defaults
    "vocab_size": integer(len(SPECIAL_TOKENS), MAX_VOCAB),
    "num_classes": integer(2, MAX_CLASSES),
    "embedding_dim": integer(1, MAX_WIDTH),
    "hidden_dim": integer(1, MAX_WIDTH),
    "num_layers": integer(1, MAX_LAYERS),
    "cell": choice(tuple(CELLS)),
    "bidirectional": of_type(bool, "true or false"),
    "dropout": number(0, 1, high_included=False),
    "word_dropout": number(0, 1, high_included=False),
    "weight_drop": number(0, 1, high_included=False),
    "pooling": pooling,
    "chunk_length": integer(0, MAX_TOKENS),
    "ngrams": integer(0, MAX_NGRAMS),
    "ngram_buckets": integer(1, MAX_BUCKETS),
    "ngram_dim": integer(1, MAX_WIDTH),
    "linear_ngrams": integer(0, MAX_NGRAMS),
    "linear_buckets": integer(1, MAX_BUCKETS),
    "linear_features": integer(1, MAX_VOCAB + MAX_BUCKETS),
    "linear_share": number(0, 1),
    "pad_id": integer(0, MAX_VOCAB - 1),  # and below vocab_size: check_agreement
}
REQUIRED_MODEL_FIELDS = ("vocab_size", "num_classes")
TOKENIZER_FIELDS = {  # TokenizerConfig's fields, each with a default
    "kind": choice(KINDS),
    "vocab_size": integer(len(SPECIAL_TOKENS) + 1, MAX_VOCAB),
    "min_freq": integer(1, MAX_MIN_FREQ),
    "max_length": integer(1, MAX_TOKENS),
    "truncation": choice(TRUNCATIONS),
    "lowercase": of_type(bool, "true or false"),
}
TOP_FIELDS = {  # the other entries a model directory's config.json may hold; all optional (older files lack some)
    "textrnn_version": of_type(str, "a version string"),
    "problem_type": choice(PROBLEM_TYPES),
    "thresholds": optional(thresholds),  # and one per label: check_agreement
    "global_threshold": optional(number(0, 1)),
    "temperature": optional(temperature),  # and of the task's shape: check_temperature_shape
    "text_column": optional(of_type(str, "a column name")),
    "label_column": optional(of_type(str, "a column name")),
    "label_columns": optional(strings),
    "label_separator": optional(of_type(str, "a separator")),
    "training": of_type(dict, "an object"),
    "tokenizer_choice": of_type(dict, "an object"),
    "pretraining": optional(of_type(dict, "an object")),
    "linear_model": optional(of_type(dict, "an object")),
    "auto_choices": of_type(dict, "an object"),
    "export": of_type(dict, "an object"),
    TOKENIZER_DIGEST: hex_digest,
}


def check_fields(path: Path, prefix: str, values: dict, schema: dict, required=(), closed: bool = True) -> None:
    """Each entry of `values` against its check in `schema`; `closed`: a name not in the schema is an error."""
    for name in required:
        if name not in values:
            raise ModelDirError(f"{path}: {prefix}{name} is missing")
    for name, value in values.items():
        check = schema.get(name)
        if check is None and closed:
            raise ModelDirError(f"{path}: {prefix}{name!s:.80} is not a setting textrnn knows")
        problem = check(value) if check else None
        if problem:
            raise ModelDirError(f"{path}: {prefix}{name} {problem}")


def check_config_schema(path: Path, config: dict) -> None:
    """config.json (read by read_config) has the right type and range in every field, and its fields agree."""
    for section in ("model", "tokenizer"):
        if not isinstance(config.get(section), dict):
            raise ModelDirError(f"{path}: {section} must be an object of settings, "
                                f"got {describe(config.get(section))}")
    check_fields(path, "model.", config["model"], MODEL_FIELDS, REQUIRED_MODEL_FIELDS)
    check_fields(path, "tokenizer.", config["tokenizer"], TOKENIZER_FIELDS)
    check_fields(path, "", config, TOP_FIELDS, closed=False)  # other keys are free: update_config adds some
    check_agreement(path, config)


def check_agreement(path: Path, config: dict) -> None:
    model, labels = config["model"], config.get("labels")
    if model.get("pad_id", 0) >= model["vocab_size"]:
        raise ModelDirError(f"{path}: model.pad_id {model['pad_id']} is not below model.vocab_size "
                            f"{model['vocab_size']}")
    if not isinstance(labels, list) or len(labels) != model["num_classes"]:
        raise ModelDirError(f"{path}: {len(labels) if isinstance(labels, list) else 'no'} "
                            f"labels for {model['num_classes']} classes")
    if not all(isinstance(label, str) for label in labels) or len(set(labels)) != len(labels):
        raise ModelDirError(f"{path}: labels must be distinct strings, got {labels!r:.200}")
    if config.get("thresholds") is not None and len(config["thresholds"]) != len(labels):
        raise ModelDirError(f"{path}: thresholds has {len(config['thresholds'])} numbers for {len(labels)} labels")
    check_temperature_shape(path, config)


def check_temperature_shape(path: Path, config: dict) -> None:
    value, problem_type = config.get("temperature"), config.get("problem_type", "single")
    if value is None:
        return
    per_label = TEMPERATURE_PER_LABEL[problem_type]
    if isinstance(value, list) != per_label or per_label and len(value) != len(config["labels"]):
        wanted = f"a list of {len(config['labels'])} numbers (one per label)" if per_label else "one number"
        raise ModelDirError(f"{path}: temperature must be {wanted} for problem_type {problem_type!r}, "
                            f"got {describe(value)}")


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and the header's string metadata of a safetensors file."""
    try:
        data = path.read_bytes()
        tensors = load_safetensors_bytes(data)
        header_size = int.from_bytes(data[:8], "little")  # safetensors layout: u64 size, JSON header, data
        metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
    except (OSError, SafetensorError, ValueError) as error:
        raise ModelDirError(f"{path}: cannot read the weights (damaged or truncated?): {error}") from None
    return tensors, metadata


def check_files(directory: Path) -> str:
    """The weights file the directory is loaded from: model.safetensors, or else model.onnx (an export)."""
    if not directory.is_dir():
        raise ModelDirError(f"no such model directory: {directory}")
    exported = (directory / ONNX_FILE).is_file() and not (directory / WEIGHTS_FILE).is_file()
    weights = ONNX_FILE if exported else WEIGHTS_FILE
    for name in (CONFIG_FILE, weights, TOKENIZER_FILE):
        if not (directory / name).is_file():
            pickles = sorted(path.name for path in directory.iterdir() if path.suffix in PICKLE_SUFFIXES)
            refused = (f"; {', '.join(pickles)} {'is' if len(pickles) == 1 else 'are'} not read: pickle files "
                       "can run code, and textrnn loads weights from safetensors only") if pickles else ""
            either = f" (nor {ONNX_FILE})" if name == WEIGHTS_FILE else ""
            raise ModelDirError(f"{directory}: missing {name}{either} (a model directory needs {CONFIG_FILE}, "
                                f"{TOKENIZER_FILE} and {WEIGHTS_FILE}, or {ONNX_FILE} for an exported model){refused}")
    return weights


def read_model_config(directory: Path, config: dict) -> ModelConfig:
    """The ModelConfig of a config.json whose every field check_config_schema has checked first."""
    check_config_schema(directory / CONFIG_FILE, config)
    try:
        model_config = ModelConfig(**config["model"])
        TokenizerConfig(**config["tokenizer"])
    except (TypeError, ValueError) as error:  # what the schema does not know: their own checks' last word
        raise ModelDirError(f"{directory / CONFIG_FILE}: invalid model settings: {error}") from None
    return model_config


def check_weights(path: Path, weights: dict[str, torch.Tensor], model_config: ModelConfig) -> None:
    """The weights must be the ones config.json describes, names and shapes, and finite; checked against
    a model on the meta device, so a config asking for a huge model allocates nothing before it fails."""
    # device= rather than a `with torch.device("meta")` block: under that block the initialisers go through
    # torch's reference ops, whose first call imports TorchDynamo (1.5 s of every load)
    meta_model = RNNClassifier(model_config, device="meta")
    expected = {name: tuple(t.shape) for name, t in meta_model.state_dict().items()}
    missing, unexpected = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
    if missing or unexpected:
        raise ModelDirError(f"{path} does not match {CONFIG_FILE} ({model_config.cell}, {model_config.num_layers} "
                            f"layer(s)): missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, shape in expected.items():
        tensor = weights[name]
        if tuple(tensor.shape) != shape:
            raise ModelDirError(f"{path} does not match {CONFIG_FILE}: {name} has shape {list(tensor.shape)}, "
                                f"the config implies {list(shape)}")
        if name == "linear_index":  # the one table of integers: columns of the linear model
            check_columns(path, tensor, model_config.linear_features)
            continue
        if not tensor.is_floating_point():
            raise ModelDirError(f"{path}: {name} holds {tensor.dtype}, not floating-point weights")
        if not torch.isfinite(tensor).all():
            raise ModelDirError(f"{path}: {name} holds NaN or infinite values")


def check_columns(path: Path, index: torch.Tensor, columns: int) -> None:
    """The linear model's n-gram -> column table: int32, each entry a column it has (an index past the weights
    would read another tensor's memory or crash)."""
    if index.dtype != torch.int32:
        raise ModelDirError(f"{path}: linear_index holds {index.dtype}, not int32 column numbers")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= columns):
        raise ModelDirError(f"{path}: linear_index points outside the linear model's {columns:,} columns")


def load_model_dir(directory, device="cpu"):
    """Load (model, tokenizer, config) from a model directory, checking that its files agree.

    Only JSON and safetensors are read; no file of the directory is unpickled, imported or executed."""
    directory = Path(directory)
    if check_files(directory) == ONNX_FILE:
        raise ModelDirError(f"{directory} holds {ONNX_FILE} and no {WEIGHTS_FILE}: an exported model, which "
                            "textrnn.load runs with onnxruntime; PyTorch needs the source model's directory")
    model_config, tokenizer, config = read_model_description(directory)
    weights, _ = read_safetensors(directory / WEIGHTS_FILE)
    check_weights(directory / WEIGHTS_FILE, weights, model_config)
    model = RNNClassifier(model_config, device="meta")  # no random initial weights: the saved ones replace them all
    model.load_state_dict(weights, strict=True, assign=True)
    return model.to(device).eval(), tokenizer, config


def read_model_description(directory: Path):
    """(ModelConfig, tokenizer, config dict) of a model directory whose files check_files has found."""
    config = read_config(directory)
    model_config = read_model_config(directory, config)
    check_tokenizer_digest(directory, config)
    try:
        tokenizer = load_tokenizer(directory / TOKENIZER_FILE)
    except Exception as error:  # tokenizers raises plain Exception for a malformed file
        raise ModelDirError(f"{directory / TOKENIZER_FILE}: cannot load the tokenizer: {error}") from None
    if tokenizer.get_vocab_size() != model_config.vocab_size:
        raise ModelDirError(f"{directory}: {TOKENIZER_FILE} has {tokenizer.get_vocab_size()} tokens but "
                            f"{CONFIG_FILE} says vocab_size {model_config.vocab_size}")
    return model_config, tokenizer, config


def check_tokenizer_digest(directory: Path, config: dict) -> bytes:
    """tokenizer.json's bytes, refused when config.json records another tokenizer's digest: a vocabulary of the
    right size but in another order would give wrong answers silently. Older directories record none."""
    path = directory / TOKENIZER_FILE
    try:
        tokenizer_bytes = path.read_bytes()
    except OSError as error:
        raise ModelDirError(f"{path}: cannot read the tokenizer: {error}") from None
    expected = config.get(TOKENIZER_DIGEST)
    if expected is not None and tokenizer_digest(tokenizer_bytes) != expected:
        raise ModelDirError(f"{path} is not the tokenizer the weights were trained with: its sha256 is "
                            f"{tokenizer_digest(tokenizer_bytes)}, {CONFIG_FILE} records {expected}")
    return tokenizer_bytes
