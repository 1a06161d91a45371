"""Inference from a saved model directory: `load` and `classify_text`.

    >>> import textrnn
    >>> model = textrnn.load("runs/sst2")
    >>> textrnn.classify_text("a gorgeous, witty film", model)
    {'label': 'positive', 'score': 0.98...}

The engine that runs the forward passes (load's `engine`): "torch" (PyTorch), "onnx" (onnxruntime, on the CPU)
or "auto". For a PyTorch model directory, "onnx" exports an ONNX copy in memory at load time (export.export_onnx),
checks it against PyTorch on a probe batch (export.max_probability_difference, within export.PARITY_TOLERANCE in
probability) and runs it through onnx_backend.OnnxModel; the PyTorch model stays loaded beside it, for
explanations' gradients. An exported directory (model.onnx) is always "onnx".

"auto" follows what was measured (docs/BENCHMARKS.md, 2026-12-01, on an idle 2-core Xeon): onnxruntime float32 ties
PyTorch on batches of IMDB reviews (459 against 466 reviews/s) and on one sentence called directly (0.30 against
0.29 ms), so for load() and classify_text it would cost an export at every load and gain nothing: "auto" is
"torch" there. Behind the server it cut one request's p50 from 1.91 to 1.32 ms, so a server's "auto"
(`prefer_onnx`) is "onnx" where it can be (onnx and onnxruntime installed, the CPU, the copy made and the probe
passed), else "torch" with the reason logged.
"""

import importlib.util
import logging
import re
import tempfile
from pathlib import Path
from collections.abc import Iterable, Mapping, Sequence, Set

import numpy as np
import torch

from .batching import collate
from .checkpoint import load_model_dir
from .devices import resolve_device
from .errors import ConfigError, InputError, InputTypeError
from .onnx_backend import OnnxModel, is_onnx_dir, load_onnx_dir
from .tasks import task_of_model
from .tokenizer import TokenizerConfig, encode_batch


LONE_SURROGATE = re.compile("[\ud800-\udfff]")
ENGINES = ("auto", "torch", "onnx")
log = logging.getLogger("textrnn")


def check_texts(text_or_texts) -> tuple[list[str], bool]:
    """(texts, single): one string or an ordered iterable of strings; anything else is an error naming the culprit.

    TypeError for what is not text; ValueError for a str that is not valid Unicode (a lone surrogate,
    as decoding bytes with errors="surrogateescape" leaves), which the tokenizer cannot read.
    """
    if isinstance(text_or_texts, str):
        texts, single = [text_or_texts], True
    elif isinstance(text_or_texts, (bytes, bytearray)):
        raise InputTypeError("classify_text takes str, not bytes: decode it first, e.g. data.decode('utf-8')")
    elif not isinstance(text_or_texts, Iterable) or isinstance(text_or_texts, (Mapping, Set)):
        # a set has no order, so its results could not be matched to its texts
        raise InputTypeError(f"classify_text takes a str or a list of str, not {type(text_or_texts).__name__}")
    else:
        texts, single = list(text_or_texts), False
    for index, text in enumerate(texts):
        where = "the text" if single else f"text at index {index}"
        if not isinstance(text, str):
            raise InputTypeError(f"{where} is {type(text).__name__}, not str")
        if surrogate := LONE_SURROGATE.search(text):
            raise InputError(f"{where} is not valid Unicode: a lone surrogate {surrogate.group()!r} at character "
                             f"{surrogate.start()} (left by decoding with errors='surrogateescape'?); clean it with "
                             "text.encode('utf-8', 'replace').decode('utf-8')")
    return texts, single


class TextClassifier:
    """A loaded model with its tokenizer and label names, ready to classify raw text."""

    def __init__(self, model, tokenizer, config: dict, device="cpu", onnx_model: OnnxModel | None = None):
        """model: the PyTorch model (an RNNClassifier) or an export's OnnxModel; onnx_model: an ONNX copy of the
        PyTorch model to run in its place (load's engine="onnx"), the PyTorch one kept for explanations."""
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()  # what explanations read: gradients, when it is PyTorch's
        runs_onnx = onnx_model is not None or isinstance(model, OnnxModel)
        self.engine = "onnx" if runs_onnx else "torch"  # the engine load chose, which runs every pass
        self.engines = {"torch": self.model} if not isinstance(model, OnnxModel) else {}
        if runs_onnx:
            self.engines["onnx"] = onnx_model or self.model
        self.engine_note = ""  # why auto chose torch, when it did
        self.tokenizer = tokenizer
        self.tokenizer_config = TokenizerConfig(**config["tokenizer"])
        self.config = config
        self.labels: list[str] = list(config["labels"])
        self.task = task_of_model(config)  # one label per text or many: the probabilities and results' shape

    @property
    def thresholds(self) -> np.ndarray | None:
        """A multi-label model's threshold per label (tuned on the validation split when training ended)."""
        return getattr(self.task, "thresholds", None)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities [len(texts), num_classes] (multi-label: each label's own probability, the rows do
        not sum to 1); texts are batched by length for speed."""
        return self.probabilities(check_texts(texts)[0], batch_size)

    def probabilities(self, texts: list[str], batch_size: int) -> np.ndarray:
        """predict_proba for texts that check_texts has passed: the task's probabilities of their logits (with the
        temperature fitted on validation)."""
        return self.task.probabilities(torch.from_numpy(self.logits(texts, batch_size))).numpy()

    @torch.inference_mode()
    def logits(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """The model's raw outputs [len(texts), num_classes] for texts that check_texts has passed."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        sequences = encode_batch(self.tokenizer, texts, self.tokenizer_config)
        order = np.argsort([len(seq) for seq in sequences], kind="stable")
        logits = np.empty((len(sequences), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = collate([sequences[i] for i in rows])
            run = self.engines[self.engine]
            logits[rows] = run(batch["ids"].to(self.device), batch["lengths"]).float().cpu().numpy()
        return logits

    def __call__(self, text_or_texts, top_k: int | None | str = "auto", batch_size: int = 256):
        return classify_text(text_or_texts, self, top_k=top_k, batch_size=batch_size)

    def __repr__(self) -> str:
        return (f"TextClassifier({self.model.config.cell}, labels={self.labels}, device={self.device}, "
                f"engine={self.engine})")


def load(model_dir, device="cpu", engine: str = "auto", prefer_onnx: bool = False) -> TextClassifier:
    """Load a saved model directory (config.json, model.safetensors, tokenizer.json), or an exported one with
    model.onnx in place of the safetensors (run by onnxruntime: textrnn/onnx_backend.py); nothing is unpickled.

    engine: "auto", "torch" or "onnx" (the module's docstring); the classifier's `engine` says which one runs.
    prefer_onnx: "auto" runs onnxruntime where it can, as a server's does (where it was measured faster).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: choose {', '.join(ENGINES)}")
    if is_onnx_dir(model_dir):  # an export: model.onnx and no model.safetensors, run by onnxruntime
        if engine == "torch":
            raise ConfigError(f"{model_dir} is an ONNX export (model.onnx, no model.safetensors): it runs with "
                              "onnxruntime only; for PyTorch load the model directory it was exported from, or "
                              "use engine 'auto' or 'onnx'")
        model, tokenizer, config = load_onnx_dir(model_dir)
        return TextClassifier(model, tokenizer, config, device=device)
    model, tokenizer, config = load_model_dir(model_dir)
    if engine == "torch" or (engine == "auto" and not prefer_onnx):
        return TextClassifier(model, tokenizer, config, device=device)
    classifier = TextClassifier(model, tokenizer, config, device=device)
    onnx_model, reason = onnx_copy(classifier, required=engine == "onnx")
    if onnx_model is None:
        classifier.engine_note = f"engine auto runs PyTorch: {reason}"
        # a GPU or no onnxruntime is expected; a copy that failed or differs is worth a warning
        level = logging.WARNING if reason.startswith("the ONNX copy") else logging.INFO
        log.log(level, "textrnn: %s (%s)", classifier.engine_note, model_dir)
        return classifier
    return TextClassifier(classifier.model, tokenizer, config, device=device, onnx_model=onnx_model)


def onnx_copy(classifier: TextClassifier, required: bool, export=None) -> tuple[OnnxModel | None, str]:
    """(an ONNX copy of the classifier's PyTorch model that passed the parity probe, "") or (None, why not) for
    engine auto; with `required` (engine onnx), why not is a ConfigError. `export(model, path)` writes the graph
    (export.export_onnx unless given)."""
    def refuse(reason: str):
        if required:
            raise ConfigError(f"engine 'onnx': {reason}; load with engine 'torch' (or 'auto', which falls back)")
        return None, reason

    if classifier.device.type != "cpu":
        return refuse(f"onnxruntime runs on the CPU here, and the model is on {classifier.device}")
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        return refuse(f"{' and '.join(missing)} not installed (pip install 'textrnn[export]')")
    from .export import PARITY_TOLERANCE, export_onnx, max_probability_difference

    try:
        with tempfile.TemporaryDirectory(prefix="textrnn-engine-") as scratch:
            path = Path(scratch) / "model.onnx"
            (export or export_onnx)(classifier.model, path)
            onnx_model = OnnxModel(path, classifier.model.config)  # the graph is read into memory here
        difference = max_probability_difference(classifier.model, onnx_model, classifier.task)
    except Exception as error:  # the exporter's and onnxruntime's own errors: auto runs PyTorch instead
        return refuse(f"the ONNX copy could not be made ({type(error).__name__}: {' '.join(str(error).split())})")
    problem = parity_problem(difference, PARITY_TOLERANCE)
    return refuse(problem) if problem else (onnx_model, "")


def parity_problem(difference: float, tolerance: float) -> str | None:
    """What is wrong with an ONNX copy whose probabilities differ from PyTorch's by `difference` at most on the
    probe batch, or None when it is within `tolerance` (a NaN difference is a problem)."""
    if difference <= tolerance:
        return None
    return (f"the ONNX copy differs from the PyTorch model by {difference:.2e} in probability on the probe batch "
            f"(more than {tolerance:g})")


def classify_text(text_or_texts, model, top_k: int | None | str = "auto", device=None, batch_size: int = 256,
                  threshold: float | None = None, engine: str | None = None):
    """Classify one text or a list of texts.

    model: a TextClassifier or a model directory. One string gives one result; a list gives one per text.

    Single-label models: {"label", "score"} with top_k 1 (what "auto" means for them); with top_k above 1, or
    None for every label, a list of such dicts, highest score first.

    Multi-label models: {"labels": [every label whose score passes its threshold, highest first],
    "scores": [{"label", "score"}, ...]}, with every label in "scores" (top_k "auto" or None) or the top_k best
    and every label of "labels".

    threshold (0 to 1), as fastText's predict-prob: single-label results become lists, possibly empty, of the
    top_k labels scoring at least it; a multi-label model's "labels" are those scoring at least it, in place of
    its tuned thresholds.

    engine: load's (default "auto") for a model directory; for a TextClassifier, one it does not run is an error.
    """
    texts, single = check_texts(text_or_texts)
    if not isinstance(model, TextClassifier):
        model = load(model, device=device or "cpu", engine=engine or "auto")
    elif device is not None and resolve_device(device) != model.device:
        raise ConfigError(f"the classifier is on {model.device}; load it with device={device!r} instead")
    elif engine not in (None, "auto", model.engine):
        raise ConfigError(f"the classifier runs {model.engine}; load it with engine={engine!r} instead")
    if top_k != "auto" and top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ConfigError(f"top_k must be a positive int, None (every label) or 'auto', got {top_k!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        raise ConfigError(f"threshold must be a probability from 0 to 1, got {threshold!r}")
    probs = model.probabilities(texts, batch_size) if texts else np.empty((0, len(model.labels)))
    results = model.task.format_results(probs, top_k, threshold)  # the server formats its batched rows the same way
    return results[0] if single else results
