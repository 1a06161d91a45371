"""`textrnn export MODEL_DIR --output DIR [--quantize int8]`: a saved model as ONNX, run by onnxruntime.

    textrnn export runs/sst2 --output runs/sst2-onnx
    textrnn export runs/sst2 --output runs/sst2-int8 --quantize int8
    textrnn predict runs/sst2-onnx "a gorgeous, witty film"

The graph is the model's CPU padded path (model.py's docstring), taking ids [batch, seq] and lengths
[batch] with both axes dynamic: every layer and direction runs the fused padded kernel, the backward one
over each text reversed within its own length, so a text gives the same logits alone or in a batch with
longer texts. Each reversal is one ReverseSequence node (ReverseSteps): the gather of an index expanded to
the features' width, which PyTorch's own path does, took about 30% of onnxruntime's time on IMDB reviews;
and the RNN stack runs time-major, transposed once each way, not around every RNN node (another ~10%).
Packed sequences are not exported (their export is broken upstream), and neither is the
module's no-padding shortcut, which would bake one batch's shape into the graph. The graph ends at the
logits: probabilities are TextClassifier's business, as for the torch model.

--quantize int8 runs onnxruntime's dynamic quantization (int8 weights, activations quantized per batch
at run time). What it quantizes depends on the cell, and the log says what it found in the graph: an
LSTM becomes onnxruntime's DynamicQuantizeLSTM, while GRU and RNN nodes have no int8 form there and stay
float32 (only the embedding and output layer shrink). Dynamic is the one int8 offered because it is the only
one that reaches the LSTM: onnxruntime's static quantization (QDQ or QOperator, calibrated) has no int8 LSTM
and leaves it float32 between Quantize/DequantizeLinear pairs, no faster than the float32 graph; per-channel
weights, reduce_range and uint8 weights measured no faster than plain per-tensor int8 and no more accurate
(docs/BENCHMARKS.md, ONNX export).

An export is whole or absent: the three files are written into a new hidden directory beside the output,
which is then renamed into place (an earlier export there is renamed aside, then removed; see publish).
"""

import glob
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import (CONFIG_FILE, ONNX_FILE, TOKENIZER_DIGEST, TOKENIZER_FILE, WEIGHTS_FILE,
                         check_tokenizer_digest, load_model_dir, tokenizer_digest)
from .errors import ConfigError, TextRNNError
from .fileio import TEMPORARY_SUFFIX, atomic_write
from .model import CELL_FUNCTIONS, RNNClassifier, gather_steps, reverse_index
from .onnx_backend import INPUTS, OUTPUT, OnnxModel, import_onnx
from .model_card import CARD_FILE, model_card, read_report
from .tasks import task_of_model

OPSET = 18  # LSTM, GRU and RNN have been in ONNX since opset 7; 18 is what the legacy exporter handles best
QUANTIZATIONS = ("int8",)
PARITY_TOLERANCE = 1e-4  # largest probability difference a float32 export may show against PyTorch


class PaddedClassifier(nn.Module):
    """RNNClassifier's inference forward, always on the padded per-direction path (what the graph holds)."""

    def __init__(self, model: RNNClassifier):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.model.embedding(ids)  # [batch, seq, emb]; dropout is off at inference
        output = self.encode(x, lengths)  # [batch, seq, dirs * hidden]
        return self.model.classify(self.model.pool(output, lengths), ids, lengths)  # [batch, classes]

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        chunk = self.model.config.chunk_length
        if not chunk:
            return encode_padded(self.model, x, lengths)
        # As RNNClassifier.encode, but every chunk runs, those past a text's end too (length 0: the padded
        # kernel reads only padding there, and pool never reads their outputs), so that no shape in the
        # graph depends on the data; texts no longer than a chunk are one chunk, as in the torch model.
        seq = x.size(1)
        x = F.pad(x, (0, 0, 0, (chunk - seq % chunk) % chunk))
        starts = torch.arange(x.size(1) // chunk) * chunk  # [chunks]
        chunk_lengths = (lengths.unsqueeze(1) - starts).clamp(0, chunk).reshape(-1)  # [batch * chunks]
        output = self.model.encode_padded(x.reshape(-1, chunk, x.size(2)), chunk_lengths)
        return output.reshape(lengths.size(0), -1, output.size(2))[:, :seq]


class ReverseSteps(torch.autograd.Function):
    """Each text's steps reversed within its own length, padding left where it is, on time-major x [seq, batch,
    features]: model.gather_steps over model.reverse_index in PyTorch, one ReverseSequence node in the graph (in
    place of the Expand and GatherElements of an index as wide as the features, about 30% of onnxruntime's time
    on IMDB)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return gather_steps(x.transpose(0, 1), reverse_index(lengths, x.size(0))).transpose(0, 1)

    @staticmethod
    def symbolic(g, x, lengths):
        return g.op("ReverseSequence", x, lengths, batch_axis_i=1, time_axis_i=0)


def encode_padded(model: RNNClassifier, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """RNNClassifier.encode_padded at inference, step for step, with its reversals as ReverseSteps; time-major
    inside, so that the graph transposes once each way rather than around every RNN node."""
    run_cell, batch, hidden = CELL_FUNCTIONS[model.config.cell], x.size(0), model.config.hidden_dim
    x = x.transpose(0, 1)  # [seq, batch, features]
    for layer in range(model.config.num_layers):
        outputs = []
        for suffix in ("", "_reverse")[: model.num_directions]:
            weights = [getattr(model.rnn, f"{kind}_l{layer}{suffix}") for kind in ("weight_ih", "weight_hh",
                                                                                   "bias_ih", "bias_hh")]
            h0 = x.new_zeros(1, batch, hidden)
            hx = (h0, h0) if model.config.cell == "lstm" else h0
            source = ReverseSteps.apply(x, lengths) if suffix else x
            output = run_cell(source, hx, weights, True, 1, 0.0, False, False, False)[0]  # [seq, batch, hidden]
            outputs.append(ReverseSteps.apply(output, lengths) if suffix else output)
        x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
    return x.transpose(0, 1)  # [batch, seq, dirs * hidden]


def export_onnx(model: RNNClassifier, path: Path) -> None:
    """Write the float32 graph of `model` to `path` (legacy TorchScript exporter: see README, Export to ONNX)."""
    ids = torch.tensor([[2, 3, 4], [5, 6, model.config.pad_id]])  # example batch: two lengths, so nothing folds
    lengths = torch.tensor([3, 2])
    with warnings.catch_warnings(), torch.no_grad():
        # the exporter's notes on its own deprecation, advanced indexing and LSTM batch sizes; parity is tested
        warnings.simplefilter("ignore")
        # eval(): the exporter puts the module back in the mode it found it in, for the model too
        torch.onnx.export(PaddedClassifier(model).eval(), (ids, lengths), str(path), input_names=list(INPUTS),
                          output_names=[OUTPUT], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"ids": {0: "batch", 1: "seq"}, "lengths": {0: "batch"},
                                        "logits": {0: "batch"}})


def quantize_int8(float_path: Path, int8_path: Path) -> str:
    """onnxruntime's dynamic int8 quantization; returns what it did, read from the quantized graph."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its "run pre-processing" tip
    quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8)
    return describe_quantization(int8_path)


def describe_quantization(path: Path) -> str:
    onnx, _ = import_onnx()
    graph = onnx.load(str(path)).graph
    ops = Counter(node.op_type for node in graph.node)
    eight_bit = {t.name for t in graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
    parts = []
    if any(node.op_type == "Gather" and node.input[0] in eight_bit for node in graph.node):
        parts.append("the embedding table in 8 bits")
    if ops["DynamicQuantizeLSTM"]:
        parts.append(f"{ops['DynamicQuantizeLSTM']} LSTM node(s) as int8 DynamicQuantizeLSTM")
    float_rnns = {op: ops[op] for op in ("LSTM", "GRU", "RNN") if ops[op]}
    if float_rnns:
        names = ", ".join(f"{count} {op}" for op, count in float_rnns.items())
        parts.append(f"{names} node(s) left in float32 (onnxruntime has no int8 {'/'.join(float_rnns)})")
    if ops["MatMulInteger"]:
        parts.append(f"{ops['MatMulInteger']} matrix product(s) as int8 MatMulInteger")
    return "; ".join(parts) + f" ({len(eight_bit)} weight tensors in 8 bits)"


def max_probability_difference(model: RNNClassifier, onnx_model: OnnxModel, task, seed: int = 0) -> float:
    """Largest |p_onnx - p_torch| over a probe batch of random texts of mixed lengths, in the probabilities that
    `task` serves (softmax, or a multi-label model's sigmoids)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([1, 2, 3, 5, 8, 13, 40, 7])
    ids = torch.randint(1, model.config.vocab_size, (len(lengths), int(lengths.max())), generator=generator)
    ids[torch.arange(ids.size(1)) >= lengths.unsqueeze(1)] = model.config.pad_id
    with torch.inference_mode():
        expected = task.probabilities(model(ids, lengths))
        got = task.probabilities(onnx_model(ids, lengths))
    return float((got - expected).abs().max())


def export_model(model_dir, output, quantize: str | None = None, log=print) -> dict:
    """Write model.onnx, config.json and tokenizer.json to `output`, all three or none; returns the export record."""
    if quantize not in (None, *QUANTIZATIONS):
        raise ConfigError(f"unknown quantization {quantize!r}: choose {', '.join(QUANTIZATIONS)}")
    import_onnx()
    source, output = Path(model_dir), Path(output)
    check_output(output)
    model, _, config = load_model_dir(source)
    tokenizer_bytes = check_tokenizer_digest(source, config)  # the bytes copied are the ones the weights fit
    with tempfile.TemporaryDirectory(prefix="textrnn-export-") as scratch:
        onnx_path, described = write_graph(model, Path(scratch), quantize)
        difference = max_probability_difference(model, OnnxModel(onnx_path, model.config), task_of_model(config))
        if quantize is None and difference > PARITY_TOLERANCE:
            raise TextRNNError(f"the exported graph differs from the PyTorch model by {difference:.2e} in probability "
                               f"(more than {PARITY_TOLERANCE}); this is a bug in textrnn's export, please report it")
        record = {"format": "onnx", "opset": OPSET, "quantization": quantize, "quantized": described,
                  "torch_version": torch.__version__, "probe_max_probability_difference": difference}
        # a source saved before the digest gets one now: the export's tokenizer.json is tied to its graph too
        exported_config = {**config, TOKENIZER_DIGEST: tokenizer_digest(tokenizer_bytes), "export": record}
        card = model_card(exported_config, read_report(source), name=output.name)
        publish(output, {ONNX_FILE: onnx_path.read_bytes(), TOKENIZER_FILE: tokenizer_bytes, CARD_FILE: card.encode(),
                         CONFIG_FILE: (json.dumps(exported_config, indent=2, ensure_ascii=False) + "\n").encode()})
    size = (output / ONNX_FILE).stat().st_size
    log(f"wrote {output / ONNX_FILE} ({size / 1e6:.1f} MB, opset {OPSET}); largest probability difference from "
        f"PyTorch on a probe batch: {difference:.1e}")
    if quantize:
        log(f"int8 (onnxruntime dynamic quantization): {described}")
    return record


def write_graph(model: RNNClassifier, scratch: Path, quantize: str | None) -> tuple[Path, str]:
    """(the graph's file in `scratch`, what quantization did to it)."""
    float_path = scratch / "float32.onnx"
    export_onnx(model, float_path)
    if quantize != "int8":
        return float_path, "none (float32)"
    return scratch / "int8.onnx", quantize_int8(float_path, scratch / "int8.onnx")


# An export is published whole: its files are written into a new directory beside `output`, which then takes
# output's place by rename. An earlier export there is renamed aside first and removed last, so a kill at any
# moment leaves the old export, the new one, or (between the two renames) none, never a mix of the two.
STAGING, REPLACED = "export-new", "export-old"  # the hidden siblings' infixes: .NAME.export-new-XXXX
EXPORT_FILES = (ONNX_FILE, TOKENIZER_FILE, CARD_FILE, CONFIG_FILE)  # README.md: its model card (model_card.py)



def check_output(output: Path) -> None:
    """`output` may be new, empty, or an earlier export (which is replaced); anything else is refused."""
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output} is a file; export into a new directory, or an earlier export's")
    if (output / WEIGHTS_FILE).exists():
        raise ConfigError(f"{output} holds {WEIGHTS_FILE}, which textrnn.load would read instead of {ONNX_FILE}; "
                          "export into another directory")
    if output.is_dir():
        foreign = sorted(path.name for path in output.iterdir() if path.name not in EXPORT_FILES
                         and not is_temporary(path.name))
        if foreign:
            raise ConfigError(f"{output} holds {', '.join(foreign[:5])}, which an export does not: exporting "
                              "replaces the directory, so export into a new one, an empty one or an earlier export")


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)  # what a killed fileio.atomic_write leaves


def publish(output: Path, files: dict[str, bytes]) -> None:
    """Write `files` as the directory `output`, in place of what was there, all at once (see STAGING)."""
    output = output.absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(output)
    prefix = f".{output.name}.{STAGING}-"
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=prefix))
    replaced = output.parent / f".{output.name}.{REPLACED}-{staging.name[len(prefix):]}"
    try:
        for name, data in files.items():  # config.json last, as everywhere
            atomic_write(staging / name, data)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; an export should read like an ordinary directory
        check_output(output)  # again: the export took a while, and something else may have written there since
        if output.exists():
            os.replace(output, replaced)
        os.replace(staging, output)
    except BaseException:
        if replaced.exists() and not output.exists():
            os.replace(replaced, output)  # the earlier export back in place
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(output.parent)
    shutil.rmtree(replaced, ignore_errors=True)


def remove_leftovers(output: Path) -> None:
    """What an export to `output` killed midway left beside it: a half-written new directory, an old one aside."""
    for infix in (STAGING, REPLACED):
        for path in output.parent.glob(f".{glob.escape(output.name)}.{infix}-*"):
            shutil.rmtree(path, ignore_errors=True)


def fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)  # make the renames themselves durable
    finally:
        os.close(handle)
