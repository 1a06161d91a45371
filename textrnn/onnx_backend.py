"""Running an exported model (model.onnx, written by `textrnn export`) with onnxruntime.

textrnn.load picks this backend for a directory with model.onnx and no model.safetensors. OnnxModel
takes the torch model's place inside TextClassifier: called with (ids [B, T] int64, lengths [B] int64) it
returns logits [B, classes] as a torch tensor, so TextClassifier.probabilities stays the one place that
turns logits into probabilities. The file is checked before anything runs: it must parse, hold its
weights inside itself (no external data files), use only standard ONNX ops and onnxruntime's own
com.microsoft ops, take and give what textrnn exports, and fit config.json (an embedding of vocab_size
rows, num_classes logits). No custom-op library is ever registered, so nothing in the directory can run as code.
config.json and tokenizer.json are checked as for a PyTorch model directory (checkpoint.read_model_description).
"""

from pathlib import Path

import numpy as np
import torch

from .checkpoint import CONFIG_FILE, ONNX_FILE, check_files, read_model_description
from .errors import ConfigError, ModelDirError, TextRNNError

INPUTS = {"ids": 2, "lengths": 1}  # name -> rank, both int64
OUTPUT = "logits"
KNOWN_DOMAINS = ("", "ai.onnx", "com.microsoft")  # the standard ops and onnxruntime's contrib ops (int8 LSTM)
INSTALL_HINT = "pip install 'textrnn[export]'"


def import_onnx():
    """(onnx, onnxruntime), or a clear error when the `export` extra is not installed."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise TextRNNError(f"ONNX models need onnx and onnxruntime ({error.name} is missing): {INSTALL_HINT}") from None
    return onnx, onnxruntime


def is_onnx_dir(directory) -> bool:
    return Path(directory).is_dir() and check_files(Path(directory)) == ONNX_FILE


def load_onnx_dir(directory):
    """(OnnxModel, tokenizer, config) of an exported directory, its files checked as load_model_dir does."""
    directory = Path(directory)
    check_files(directory)
    model_config, tokenizer, config = read_model_description(directory)
    return OnnxModel(directory / ONNX_FILE, model_config), tokenizer, config


def check_graph(path: Path, data: bytes, config) -> None:
    """Refuse a file that is damaged, reads other files, needs custom ops, has the wrong inputs/outputs, or was
    exported from another model than config.json (a ModelConfig) describes."""
    onnx, _ = import_onnx()
    try:
        graph = onnx.load_model_from_string(data)  # external data, if any, is not read
        external = [t.name for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        if not external:
            onnx.checker.check_model(graph)
    except Exception as error:  # protobuf's DecodeError, onnx's ValidationError, ...
        raise ModelDirError(f"{path}: not a readable ONNX model (damaged or truncated?): {error}") from None
    if external:
        raise ModelDirError(f"{path}: weights {external[:3]} live in external files; textrnn reads only "
                            "self-contained ONNX files, as `textrnn export` writes them")
    domains = sorted({node.domain for node in graph.graph.node} - set(KNOWN_DOMAINS))
    if domains or graph.functions:
        raise ModelDirError(f"{path}: uses custom operators ({', '.join(domains) or 'model-local functions'}); "
                            "textrnn runs only standard ONNX and onnxruntime's own operators")
    inputs = {i.name: i.type.tensor_type for i in graph.graph.input}
    outputs = [o.name for o in graph.graph.output]
    int64 = onnx.TensorProto.INT64
    if (inputs.keys() != INPUTS.keys() or outputs != [OUTPUT]
            or any(inputs[name].elem_type != int64 or len(inputs[name].shape.dim) != rank
                   for name, rank in INPUTS.items())):
        raise ModelDirError(f"{path}: takes {sorted(inputs)} and gives {outputs}; a textrnn export takes ids "
                            f"[batch, seq] and lengths [batch] (int64) and gives logits [batch, {config.num_classes}]")
    check_sizes(path, graph.graph, config)


def check_sizes(path: Path, graph, config) -> None:
    """The embedding table's rows are config.json's vocab_size and the logits its num_classes: a model.onnx of
    another model would read token ids past its table's end, or give scores to labels that are not there."""
    tables = {t.name: list(t.dims) for t in graph.initializer}
    # the embedding is the Gather that reads the ids input straight from a weight (int8: its quantized weight)
    rows = [tables[node.input[0]][0] for node in graph.node if node.op_type == "Gather" and len(node.input) == 2
            and node.input[1] == "ids" and tables.get(node.input[0])]
    if rows != [config.vocab_size]:
        found = f"an embedding of {rows[0]} rows" if len(rows) == 1 else f"{len(rows)} embedding tables of the ids"
        raise ModelDirError(f"{path}: holds {found}; {CONFIG_FILE} says vocab_size {config.vocab_size}")
    logits = graph.output[0].type.tensor_type.shape.dim
    classes = logits[1].dim_value if len(logits) == 2 and logits[1].HasField("dim_value") else None
    if classes != config.num_classes:
        raise ModelDirError(f"{path}: gives logits [batch, {classes if classes is not None else '?'}]; "
                            f"{CONFIG_FILE} says {config.num_classes} classes")


class OnnxModel:
    """A model.onnx run by onnxruntime on the CPU, called like RNNClassifier: (ids, lengths) -> logits."""

    def __init__(self, path: Path, config, threads: int | None = None):
        _, onnxruntime = import_onnx()
        self.path, self.config = path, config
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ModelDirError(f"{path}: cannot read the model: {error}") from None
        check_graph(path, data, config)
        options = onnxruntime.SessionOptions()
        # as many threads as PyTorch uses, so that the two backends compare on the same cores
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's to act on
        try:
            self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            probe = self(torch.tensor([[1, 1], [1, config.pad_id]]), torch.tensor([2, 1]))
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
            raise ModelDirError(f"{path}: onnxruntime cannot run it: {' '.join(str(error).split())}") from None
        if tuple(probe.shape) != (2, config.num_classes):
            raise ModelDirError(f"{path}: gives logits of shape {list(probe.shape)} for 2 texts; config.json "
                                f"says {config.num_classes} classes")

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feed = {"ids": ids.cpu().numpy().astype(np.int64), "lengths": lengths.cpu().numpy().astype(np.int64)}
        return torch.from_numpy(self.session.run([OUTPUT], feed)[0])

    def to(self, device):
        if torch.device(device).type != "cpu":
            raise ConfigError(f"{self.path} runs on the CPU with onnxruntime; load it with device='cpu'")
        return self

    def eval(self):
        return self
