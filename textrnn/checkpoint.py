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

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .version import __version__
from .errors import ModelDirError
from .fileio import atomic_write, atomic_write_json
from .model import ModelConfig, RNNClassifier
from .tokenizer import TokenizerConfig, load_tokenizer

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
ONNX_FILE = "model.onnx"  # an exported model: read by onnxruntime, used only where model.safetensors is absent
# Never read: a pickle can run any code while it loads. Named in the error when one stands in for the weights.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


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
    atomic_write(directory / TOKENIZER_FILE, tokenizer.to_str().encode())
    atomic_write_json(directory / CONFIG_FILE, config)
    return directory


def update_config(directory, **values) -> None:
    """Set entries of a model directory's config.json (a multi-label model's tuned thresholds, say)."""
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        # RecursionError: a hostile file of deeply nested brackets
        raise ModelDirError(f"{path}: cannot read the model config: {type(error).__name__}: {error}") from None
    if not isinstance(config, dict) or config.get("format") != "textrnn":
        raise ModelDirError(f"{path}: not a textrnn model config")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelDirError(
            f"{path}: format version {version!r} is newer than this textrnn ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade textrnn"
        )
    return config


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
    try:
        model_config = ModelConfig(**config["model"])
        TokenizerConfig(**config["tokenizer"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelDirError(f"{directory / CONFIG_FILE}: invalid model settings: {error}") from None
    labels = config.get("labels")
    if not isinstance(labels, list) or len(labels) != model_config.num_classes:
        raise ModelDirError(f"{directory / CONFIG_FILE}: {len(labels) if isinstance(labels, list) else 'no'} "
                            f"labels for {model_config.num_classes} classes")
    if not all(isinstance(label, str) for label in labels) or len(set(labels)) != len(labels):
        raise ModelDirError(f"{directory / CONFIG_FILE}: labels must be distinct strings, got {labels!r:.200}")
    return model_config


def check_weights(path: Path, weights: dict[str, torch.Tensor], model_config: ModelConfig) -> None:
    """The weights must be the ones config.json describes, names and shapes, and finite; checked against
    a model on the meta device, so a config asking for a huge model allocates nothing before it fails."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in RNNClassifier(model_config).state_dict().items()}
    missing, unexpected = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
    if missing or unexpected:
        raise ModelDirError(f"{path} does not match {CONFIG_FILE} ({model_config.cell}, {model_config.num_layers} "
                            f"layer(s)): missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, shape in expected.items():
        tensor = weights[name]
        if tuple(tensor.shape) != shape:
            raise ModelDirError(f"{path} does not match {CONFIG_FILE}: {name} has shape {list(tensor.shape)}, "
                                f"the config implies {list(shape)}")
        if not tensor.is_floating_point():
            raise ModelDirError(f"{path}: {name} holds {tensor.dtype}, not floating-point weights")
        if not torch.isfinite(tensor).all():
            raise ModelDirError(f"{path}: {name} holds NaN or infinite values")


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
    model = RNNClassifier(model_config)
    model.load_state_dict(weights, strict=True)
    return model.to(device).eval(), tokenizer, config


def read_model_description(directory: Path):
    """(ModelConfig, tokenizer, config dict) of a model directory whose files check_files has found."""
    config = read_config(directory)
    model_config = read_model_config(directory, config)
    try:
        tokenizer = load_tokenizer(directory / TOKENIZER_FILE)
    except Exception as error:  # tokenizers raises plain Exception for a malformed file
        raise ModelDirError(f"{directory / TOKENIZER_FILE}: cannot load the tokenizer: {error}") from None
    if tokenizer.get_vocab_size() != model_config.vocab_size:
        raise ModelDirError(f"{directory}: {TOKENIZER_FILE} has {tokenizer.get_vocab_size()} tokens but "
                            f"{CONFIG_FILE} says vocab_size {model_config.vocab_size}")
    return model_config, tokenizer, config
