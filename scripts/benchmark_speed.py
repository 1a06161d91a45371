"""Speed on IMDB: textrnn against a tutorial-style PyTorch pipeline, and against the machine's own floor.

    .venv/bin/python scripts/benchmark_speed.py                   # the CPU comparison (~10 min on 2 cores)
    .venv/bin/python scripts/benchmark_speed.py --device cuda     # the GPU grid (AMP, batch sizes, packed/padded)
    .venv/bin/python scripts/benchmark_speed.py --suite full      # the older one-epoch table on all of IMDB
    .venv/bin/python scripts/benchmark_speed.py --quick           # any suite, small: a smoke test; writes nothing

Each suite publishes its own block of --output (docs/BENCHMARKS.md): benchmark_speed (compare),
benchmark_speed_gpu (gpu), benchmark_speed_full (full).

**compare** (the default on a CPU). The tutorial peer, written here the way the popular PyTorch sentiment
tutorials do it (a Python regex tokenizer, a Counter vocabulary, shuffled random batches, embedding + BiLSTM over
`pack_padded_sequence(enforce_sorted=False)`, final hidden states into a linear layer, Adam), against
`textrnn train` without its bag of n-grams (`--ngrams 0`) and with the `document` preset's (`--ngrams 2`). Every
side reads the same 3,000 IMDB training reviews and validates on the same 300 others after each epoch, at 256
tokens, embeddings 128, hidden 128, one layer, batches of 64. Each side runs twice, for 1 and for 3 epochs, each
run a fresh process timed from outside; an epoch's time is the difference over 2, so start-up, tokenising and
the final report cancel out. Beside them, the floor: this machine's measured matrix-multiply rate at the shapes
an LSTM step uses, applied to the FLOPs of an epoch's real tokens.

**gpu** (the default with --device cuda). One IMDB epoch, 25,000 reviews at 512 tokens, BiLSTM 256/256, with AMP
(float16) off and on, at batches of 32, 128 and 512, with the recurrence packed (cuDNN's packed kernels, what
textrnn runs on CUDA) and padded (the per-direction padded kernels textrnn runs on a CPU). Each cell trains on
textrnn's own model and bucketed batches for a fixed time and extrapolates the epoch from the tokens it read,
then times inference the same way; beside each, the floor at the GPU's measured matrix-multiply rates.
"""

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from textrnn import classify_text, load
from textrnn.batching import EncodedSplit, make_loader
from textrnn.data import encode_split, load_splits, prepare_data, quiet_datasets
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.tokenizer import encode_batch, train_tokenizer
from textrnn.training.config import TrainConfig
from textrnn.training.train import train

from common import describe_machine, latencies, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
SHORT_SENTENCE = "a gorgeous, witty and moving film"
PEER_RESULT = "peer result: "  # the line a peer process prints its result on
AMP_DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}  # textrnn's --amp: float16 + GradScaler on CUDA

# ----------------------------------------------------------------------------- the reference pipeline

LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
WORD = re.compile(r"\w+|[^\w\s]")
PAD, UNK = 0, 1


def reference_tokenize(text: str) -> list[str]:
    return WORD.findall(LINE_BREAK.sub(" ", text.lower()))


def reference_vocabulary(token_lists, max_size: int, min_freq: int) -> dict[str, int]:
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = [word for word, count in counts.most_common(max_size - 2) if count >= min_freq]
    return {word: index for index, word in enumerate(kept, start=2)}


def reference_numericalize(tokens: list[str], vocab: dict[str, int], max_length: int) -> list[int]:
    return [vocab.get(token, UNK) for token in tokens[:max_length]] or [UNK]


class ReferenceLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, num_classes, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_dim, num_classes)

    def forward(self, ids, lengths):
        embedded = self.dropout(self.embedding(ids))  # [batch, seq, emb]
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: [2, batch, hidden]
        return self.fc(self.dropout(torch.cat([hidden[-2], hidden[-1]], dim=-1)))


def reference_batches(sequences, labels, batch_size, shuffle, seed=0):
    order = np.random.default_rng(seed).permutation(len(sequences)) if shuffle else np.arange(len(sequences))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad_sequence([torch.tensor(sequences[i]) for i in rows], batch_first=True, padding_value=PAD)
        yield ids, torch.tensor([len(sequences[i]) for i in rows]), torch.tensor([labels[i] for i in rows])


def reference_train_epoch(model, optimizer, sequences, labels, batch_size, device, seed) -> None:
    model.train()
    for ids, lengths, batch_labels in reference_batches(sequences, labels, batch_size, shuffle=True, seed=seed):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids.to(device), lengths), batch_labels.to(device))
        loss.backward()
        optimizer.step()


def reference_predict(model, sequences, batch_size, device) -> np.ndarray:
    model.eval()
    predictions = []
    with torch.no_grad():
        for ids, lengths, _ in reference_batches(sequences, [0] * len(sequences), batch_size, shuffle=False):
            predictions.append(model(ids.to(device), lengths).argmax(-1).cpu())
    return torch.cat(predictions).numpy()


# ----------------------------------------------------------------------------- matrix-multiply rates and the floor


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def float32_matmul_as_cudnn(device: torch.device):
    """On CUDA, float32 products as cuDNN's RNN kernels run them: TF32 where torch.backends.cudnn.allow_tf32
    (PyTorch's default) allows it."""
    before = torch.get_float32_matmul_precision()
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high" if torch.backends.cudnn.allow_tf32 else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def matmul_rate(rows: int, inner: int, columns: int, dtype: torch.dtype, device: torch.device,
                warmup: int = 3, repeats: int = 11, min_seconds: float = 0.03) -> float | None:
    """Sustained FLOP/s of torch.matmul([rows, inner], [inner, columns]): after `warmup` untimed calls, the median
    of `repeats` timings, each of as many back-to-back calls as fill `min_seconds`. None where this device has no
    such product in `dtype`."""
    try:
        with float32_matmul_as_cudnn(device):
            a = torch.randn(rows, inner, device=device).to(dtype)
            b = torch.randn(inner, columns, device=device).to(dtype)
            for _ in range(warmup):
                torch.matmul(a, b)
            synchronize(device)
            started = time.perf_counter()
            torch.matmul(a, b)
            synchronize(device)
            calls = max(1, round(min_seconds / max(time.perf_counter() - started, 1e-7)))
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                for _ in range(calls):
                    torch.matmul(a, b)
                synchronize(device)
                times.append((time.perf_counter() - started) / calls)
    except RuntimeError:  # e.g. "addmm_impl_cpu_" not implemented for a dtype
        return None
    return 2 * rows * inner * columns / statistics.median(times)


def lstm_rates(batch_size: int, seq_len: int, embedding_dim: int, hidden_dim: int, dtype: torch.dtype,
               device: torch.device) -> dict | None:
    """The two products of an LSTM layer: the input projection of a whole batch, [batch * seq, emb] x [emb, 4h],
    and one recurrent step, [batch, h] x [h, 4h]."""
    gates = 4 * hidden_dim
    rates = {"input": matmul_rate(batch_size * seq_len, embedding_dim, gates, dtype, device),
             "recurrent": matmul_rate(batch_size, hidden_dim, gates, dtype, device)}
    return rates if None not in rates.values() else None


def epoch_flops(tokens: int, embedding_dim: int, hidden_dim: int, passes: int = 3, directions: int = 2) -> dict:
    """Matrix-product FLOPs of a one-layer (Bi)LSTM over `tokens` real tokens: each token, in each direction, is
    multiplied into the 4 gates by the input and the recurrent weights (a multiply-add is 2 FLOPs). passes=3:
    forward and backward (the backward pass costs about twice the forward); 1: forward only."""
    gates = 4 * hidden_dim
    return {"input": passes * directions * 2 * gates * embedding_dim * tokens,
            "recurrent": passes * directions * 2 * gates * hidden_dim * tokens}


def floor_seconds(flops: dict, rates: dict) -> float:
    """The time those FLOPs take at the measured rate of each kind of product."""
    return flops["input"] / rates["input"] + flops["recurrent"] / rates["recurrent"]


def epoch_floor(lengths: np.ndarray, batch_size: int, embedding_dim: int, hidden_dim: int) -> dict:
    """FLOPs of one BiLSTM epoch (forward + backward, by kind and in all) and its sequential steps with
    length-bucketed batches."""
    flops = epoch_flops(int(lengths.sum()), embedding_dim, hidden_dim)
    ordered = np.sort(lengths)  # bucketed batches hold similar lengths: each costs its longest text's steps
    steps = sum(int(ordered[min(i + batch_size, len(ordered)) - 1]) for i in range(0, len(ordered), batch_size))
    return {**flops, "flops": flops["input"] + flops["recurrent"],
            "sequential_steps": 2 * steps}  # the backward pass walks every step again


def describe_rate(rate: float | None) -> str:
    if rate is None:
        return "not run"
    return f"{rate / 1e9:.3g} GFLOP/s" if rate < 1e12 else f"{rate / 1e12:.3g} TFLOP/s"


def precision(amp: bool, device: torch.device) -> str:
    """What a cell computes in: float32, or AMP's type on this device."""
    return str(AMP_DTYPES[device.type]).removeprefix("torch.") if amp else "float32"


def goal_met(ok: bool) -> str:
    return "yes" if ok else "no"


def load_average() -> float:
    return os.getloadavg()[0]


# ----------------------------------------------------------------------------- suite compare: the CPU comparison


@dataclass(frozen=True)
class Comparison:
    """What every side of the comparison reads and trains."""

    texts: int = 3_000
    validation: int = 300
    max_length: int = 256
    embedding_dim: int = 128
    hidden_dim: int = 128
    batch_size: int = 64
    vocab_size: int = 30_000
    min_freq: int = 2
    dropout: float = 0.3
    seed: int = 0
    epochs: tuple[int, int] = (1, 3)  # an epoch: (time of the longer run - the shorter) / (difference in epochs)


QUICK_COMPARISON = Comparison(texts=128, validation=32, max_length=64, epochs=(1, 2))
SIDES = {"peer": "the tutorial peer", "textrnn": "textrnn, --ngrams 0", "bag": "textrnn, --ngrams 2 (document)"}


def write_comparison_data(data: Path, folder: Path, sizes: Comparison) -> dict[str, list[str]]:
    """train.parquet and validation.parquet in `folder`: seeded, disjoint samples of IMDB's training reviews."""
    table = pq.read_table(data / "train.parquet", columns=["text", "label"])
    order = np.random.default_rng(sizes.seed).permutation(table.num_rows)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {}
    for split, rows in (("train", order[: sizes.texts]), ("validation", order[sizes.texts :][: sizes.validation])):
        part = table.take(rows)
        pq.write_table(part, folder / f"{split}.parquet")
        texts[split] = part.column("text").to_pylist()
    return texts


def peer_run(settings: dict) -> dict:
    """The tutorial side, in a process of its own: read, tokenise, count, then `epochs` epochs, each with a
    validation pass."""
    sizes, folder, device = Comparison(**settings["sizes"]), Path(settings["data"]), torch.device(settings["device"])
    train_split, valid_split = (pq.read_table(folder / f"{split}.parquet").to_pydict()
                                for split in ("train", "validation"))
    train_tokens = [reference_tokenize(text) for text in train_split["text"]]
    vocab = reference_vocabulary(train_tokens, sizes.vocab_size, sizes.min_freq)
    train_ids = [reference_numericalize(tokens, vocab, sizes.max_length) for tokens in train_tokens]
    valid_ids = [reference_numericalize(reference_tokenize(text), vocab, sizes.max_length)
                 for text in valid_split["text"]]
    torch.manual_seed(sizes.seed)
    model = ReferenceLSTM(len(vocab) + 2, sizes.embedding_dim, sizes.hidden_dim, max(train_split["label"]) + 1,
                          sizes.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch_seconds = []
    for epoch in range(settings["epochs"]):
        started = time.perf_counter()
        reference_train_epoch(model, optimizer, train_ids, train_split["label"], sizes.batch_size, device, epoch)
        predictions = reference_predict(model, valid_ids, sizes.batch_size, device)
        epoch_seconds.append(time.perf_counter() - started)
    accuracy = float((predictions == np.asarray(valid_split["label"])).mean())
    return {"train_tokens": sum(map(len, train_ids)), "valid_accuracy": accuracy, "epoch_timer_s": epoch_seconds}


def textrnn_command(sizes: Comparison, folder: Path, output: Path, epochs: int, ngrams: int, device: str) -> list[str]:
    """`textrnn train` with the document preset at the comparison's sizes (random initial embeddings, as the
    peer's)."""
    settings = {"--max-length": sizes.max_length, "--embedding-dim": sizes.embedding_dim,
                "--hidden-dim": sizes.hidden_dim, "--num-layers": 1, "--batch-size": sizes.batch_size,
                "--ngrams": ngrams, "--vocab-size": sizes.vocab_size, "--min-freq": sizes.min_freq,
                "--dropout": sizes.dropout, "--seed": sizes.seed, "--epochs": epochs}
    return [sys.executable, "-m", "textrnn", "train", "--train-file", str(folder / "train.parquet"),
            "--validation-file", str(folder / "validation.parquet"), "--output", str(output), "--force",
            "--preset", "document", "--embedding-init", "random", "--device", device, "--no-progress",
            *itertools.chain.from_iterable((flag, str(value)) for flag, value in settings.items())]


def timed_process(command: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall-clock seconds of a whole process, and what it printed."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def run_side(side: str, epochs: int, sizes: Comparison, folder: Path, work: Path, device: str) -> dict:
    """One run of one side, in a fresh process: its wall-clock seconds and what it reports."""
    if side == "peer":
        settings = {"sizes": asdict(sizes), "data": str(folder), "device": device, "epochs": epochs}
        seconds, printed = timed_process([sys.executable, __file__, "--peer-run", json.dumps(settings)])
        result = json.loads(printed.rsplit(PEER_RESULT, 1)[1])
        return {"seconds": seconds, **result}
    output = work / f"{side}-{epochs}"
    cache = tempfile.mkdtemp(prefix="hf-cache-", dir=work)  # a datasets cache of its own: every run encodes afresh
    try:
        command = textrnn_command(sizes, folder, output, epochs, 2 if side == "bag" else 0, device)
        seconds, _ = timed_process(command, env={**os.environ, "HF_DATASETS_CACHE": cache})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    history = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    return {"seconds": seconds, "valid_accuracy": history[-1]["valid_accuracy"], "output": str(output),
            "epoch_timer_s": [row["seconds"] for row in history]}


def per_epoch(runs: dict, sizes: Comparison) -> float:
    short, long = sizes.epochs
    return (runs[long]["seconds"] - runs[short]["seconds"]) / (long - short)


def comparison_floor(texts: dict, run_dir: str, sizes: Comparison, rates: dict) -> dict:
    """The floor of one epoch: forward and backward over the real training tokens (textrnn's tokenizer, truncated
    as it trains), forward over the validation tokens, each product kind at its measured rate."""
    classifier = load(run_dir, engine="torch")  # only its tokenizer is needed: no ONNX copy
    tokens = {split: sum(map(len, encode_batch(classifier.tokenizer, texts[split], classifier.tokenizer_config)))
              for split in ("train", "validation")}
    train_flops = epoch_flops(tokens["train"], sizes.embedding_dim, sizes.hidden_dim)
    valid_flops = epoch_flops(tokens["validation"], sizes.embedding_dim, sizes.hidden_dim, passes=1)
    flops = {kind: train_flops[kind] + valid_flops[kind] for kind in train_flops}
    seconds = {dtype: floor_seconds(flops, kind_rates) if kind_rates else None for dtype, kind_rates in rates.items()}
    return {"tokens": tokens, "flops": flops, "seconds": seconds}


def compare_table(epoch: dict, floor: float) -> list[str]:
    peer, plain, bag = epoch["peer"], epoch["textrnn"], epoch["bag"]
    overhead = bag / plain
    rows = [
        ("one epoch without the bag (s)", f"{peer:.1f}", f"{plain:.2f}", peer / plain, "≥ 8x", peer / plain >= 8),
        ("one epoch with the document preset's bag (s)", f"{peer:.1f}", f"{bag:.2f}", peer / bag, "≥ 8x",
         peer / bag >= 8),
        (f"epoch without the bag over the floor ({floor:.2f} s)", f"{peer / floor:.1f}x", f"{plain / floor:.2f}x",
         plain / floor, "≤ 2x", plain / floor <= 2),
        (f"epoch with the bag over the floor ({floor:.2f} s)", f"{peer / floor:.1f}x", f"{bag / floor:.2f}x",
         bag / floor, "≤ 2x", bag / floor <= 2),
        ("the bag's overhead: epoch with it / without", "", f"{bag:.2f} / {plain:.2f} s", overhead, "≤ 1.05",
         overhead <= 1.05),
    ]
    return ["| what | peer | textrnn | ratio | goal | met? |", "|---|---:|---:|---:|---|---|",
            *(f"| {what} | {a} | {b} | {r:.2f}x | {goal} | {goal_met(ok)} |" for what, a, b, r, goal, ok in rows)]


def runs_table(results: dict, epoch: dict, sizes: Comparison) -> list[str]:
    short, long = sizes.epochs
    lines = [f"| side | {short}-epoch run (s) | {long}-epoch run (s) | one epoch (s) | validation accuracy after "
             f"{long} epochs | the run's own epoch timer (s) |", "|---|---:|---:|---:|---:|---|"]
    for side, name in SIDES.items():
        runs = results[side]
        timer = ", ".join(f"{s:.1f}" for s in runs[long].get("epoch_timer_s", [])) or "(none)"
        lines.append(f"| {name} | {runs[short]['seconds']:.1f} | {runs[long]['seconds']:.1f} | {epoch[side]:.2f} | "
                     f"{runs[long]['valid_accuracy']:.2%} | {timer} |")
    return lines


def floor_lines(sizes: Comparison, rates: dict, floor: dict) -> list[str]:
    gates = 4 * sizes.hidden_dim
    shapes = {"input": f"[{sizes.batch_size * sizes.max_length:,}, {sizes.embedding_dim}] x "
                       f"[{sizes.embedding_dim}, {gates}]",
              "recurrent": f"[{sizes.batch_size}, {sizes.hidden_dim}] x [{sizes.hidden_dim}, {gates}]"}
    names = {"input": "input projection of a batch", "recurrent": "one recurrent step"}
    lines = ["| matrix product (torch.matmul) | shape | float32 | bfloat16 | FLOPs of an epoch |",
             "|---|---|---:|---:|---:|"]
    for kind in ("input", "recurrent"):
        lines.append(f"| {names[kind]} | {shapes[kind]} | {describe_rate((rates['float32'] or {}).get(kind))} | "
                     f"{describe_rate((rates['bfloat16'] or {}).get(kind))} | {floor['flops'][kind]:.3g} |")
    bf16 = floor["seconds"]["bfloat16"]
    return [*lines, "",
            f"The floor: {floor['seconds']['float32']:.2f} s in float32"
            + (f" ({bf16:.2f} s at the bfloat16 rates, for --amp)" if bf16 else " (bfloat16 products did not run)")
            + f", for the {floor['tokens']['train']:,} real training tokens (textrnn's tokenizer, truncated at "
            f"{sizes.max_length}), forward and backward (3x the forward FLOPs), and the "
            f"{floor['tokens']['validation']:,} validation tokens, forward only. Each rate is the median of 11 "
            "timings after 3 warm-up calls. Left out: the embedding and bag lookups and their gradients, the gate "
            f"nonlinearities, pooling, the head (a [batch, {2 * sizes.hidden_dim}] x [{2 * sizes.hidden_dim}, 2] "
            "product), the optimiser's update and padding: memory traffic and small products, not the matrix work "
            "the floor counts."]


def compare_suite(args, device: torch.device, command: str) -> dict:
    sizes = QUICK_COMPARISON if args.quick else Comparison()
    load_start = load_average()
    work = Path(args.workdir) / "compare"
    folder = work / "data"
    texts = write_comparison_data(Path(args.data), folder, sizes)
    rates = {name: lstm_rates(sizes.batch_size, sizes.max_length, sizes.embedding_dim, sizes.hidden_dim, dtype,
                              device) for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    print(f"matrix-multiply rates: {rates}", flush=True)
    results = {side: {} for side in SIDES}
    for epochs in sizes.epochs:
        for side in SIDES:
            results[side][epochs] = run_side(side, epochs, sizes, folder, work, args.device)
            print(f"{SIDES[side]}, {epochs} epochs: {results[side][epochs]}", flush=True)
    epoch = {side: per_epoch(runs, sizes) for side, runs in results.items()}
    floor = comparison_floor(texts, results["textrnn"][sizes.epochs[1]]["output"], sizes, rates)
    load_end = load_average()
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(device)}. Load average (1 minute): {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end.",
        f"- Data: {sizes.texts:,} IMDB training reviews, validated on {sizes.validation:,} others after each epoch "
        f"(seeded samples of the 25,000), the same for every side.",
        f"- Every side: vocabulary {sizes.vocab_size:,} (minimum frequency {sizes.min_freq}), {sizes.max_length} "
        f"tokens kept, a one-layer BiLSTM {sizes.embedding_dim}/{sizes.hidden_dim}, batches of {sizes.batch_size}, "
        f"dropout {sizes.dropout}, seed {sizes.seed}. textrnn: `textrnn train --preset document` at these sizes with "
        "`--embedding-init random`, without (`--ngrams 0`) and with the preset's bag of words and word pairs "
        "(`--ngrams 2`, default buckets and size).",
        f"- One epoch = (the {sizes.epochs[1]}-epoch run - the {sizes.epochs[0]}-epoch run) / "
        f"{sizes.epochs[1] - sizes.epochs[0]}, each run a fresh process timed from outside (textrnn with an empty "
        "datasets cache), so start-up, tokenising and the final report cancel; an epoch includes its validation "
        "pass and, for textrnn, its checkpoint.", "",
        *compare_table(epoch, floor["seconds"]["float32"]), "",
        *runs_table(results, epoch, sizes), "",
        *floor_lines(sizes, rates, floor), "",
    ]
    publish(lines, args.output, "benchmark_speed", write=not args.quick)
    return {"sizes": asdict(sizes), "rates": rates, "runs": results, "epoch_s": epoch, "floor": floor,
            "load_average": [load_start, load_end]}


# ----------------------------------------------------------------------------- suite gpu: the GPU grid


@dataclass(frozen=True)
class GpuGrid:
    texts: int = 25_000
    max_length: int = 512
    embedding_dim: int = 256
    hidden_dim: int = 256
    batch_sizes: tuple[int, ...] = (32, 128, 512)
    train_seconds: float = 3.0  # each cell trains this long (at least min_steps steps), then infers half as long
    min_steps: int = 10
    warmup_steps: int = 3


QUICK_GRID = GpuGrid(texts=1_000, max_length=64, embedding_dim=64, hidden_dim=64, batch_sizes=(16, 64),
                     train_seconds=0.3, min_steps=2, warmup_steps=1)


def encode_imdb(data: Path, grid: GpuGrid) -> tuple[EncodedSplit, ModelConfig]:
    """IMDB's training reviews (a seeded sample of grid.texts when fewer than all) as textrnn encodes them for the
    document preset at the grid's sizes, without the bag; and the model's config."""
    table = pq.read_table(data / "train.parquet", columns=["text", "label"])
    if grid.texts < table.num_rows:
        table = table.take(np.random.default_rng(0).permutation(table.num_rows)[: grid.texts])
    texts, labels = table.column("text").to_pylist(), table.column("label").to_numpy()
    config = TrainConfig(preset="document", max_length=grid.max_length, embedding_dim=grid.embedding_dim,
                         hidden_dim=grid.hidden_dim, ngrams=0).resolve(texts)
    tokenizer = train_tokenizer(texts, config.tokenizer_config(), num_texts=len(texts))
    sequences = encode_batch(tokenizer, texts, config.tokenizer_config())
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    ids = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int32, count=int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    model_config = config.model_config(tokenizer.get_vocab_size(), int(labels.max()) + 1)
    return EncodedSplit(ids, offsets, labels.astype(np.int64)), model_config


def fix_recurrence(model: RNNClassifier, packed: bool) -> RNNClassifier:
    """The model's own forward with the recurrence always packed or always padded: encode's `packed` argument,
    which the model otherwise picks by the device (packed on CUDA)."""
    model.encode = lambda x, lengths: RNNClassifier.encode(model, x, lengths, packed=packed)
    return model


def timed_steps(step, batches, grid: GpuGrid, seconds: float, device: torch.device) -> dict:
    """grid.warmup_steps untimed steps, then steps until `seconds` have passed and grid.min_steps have run (or the
    batches run out), the device synchronised before and after. step(batch) -> (texts, real tokens)."""
    for _ in range(grid.warmup_steps):
        step(next(batches))
    synchronize(device)
    started, steps, texts, tokens = time.perf_counter(), 0, 0, 0
    for batch in batches:
        done = step(batch)
        steps, texts, tokens = steps + 1, texts + done[0], tokens + done[1]
        if steps >= grid.min_steps and time.perf_counter() - started >= seconds:
            break
    synchronize(device)
    return {"steps": steps, "texts": texts, "tokens": tokens, "seconds": time.perf_counter() - started}


class TrainingStep:
    """One training step as textrnn's: autocast, cross-entropy, GradScaler (float16), gradient clipping at 1.0,
    fused AdamW."""

    def __init__(self, model: RNNClassifier, amp: bool, device: torch.device):
        self.model, self.amp, self.device = model.train(), amp, device
        try:
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, fused=True)
        except (RuntimeError, TypeError):
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp and AMP_DTYPES[device.type] == torch.float16)

    def __call__(self, batch: dict) -> tuple[int, int]:
        ids = batch["ids"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=AMP_DTYPES[self.device.type], enabled=self.amp):
            logits = self.model(ids, batch["lengths"])
        loss = F.cross_entropy(logits.float(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return len(batch["lengths"]), int(batch["lengths"].sum())


class InferenceStep:
    def __init__(self, model: RNNClassifier, amp: bool, device: torch.device):
        self.model, self.amp, self.device = model.eval(), amp, device

    @torch.inference_mode()
    def __call__(self, batch: dict) -> tuple[int, int]:
        with torch.autocast(self.device.type, dtype=AMP_DTYPES[self.device.type], enabled=self.amp):
            self.model(batch["ids"].to(self.device, non_blocking=True), batch["lengths"])
        return len(batch["lengths"]), int(batch["lengths"].sum())


def measure_cell(model_config, encoded: EncodedSplit, batch_size: int, amp: bool, packed: bool,
                 device: torch.device, grid: GpuGrid) -> dict:
    """Training tokens/s and inference reviews/s of one cell of the grid, each on shuffled bucketed batches. A cell
    that fails (out of memory, a kernel missing) says why, and the grid goes on."""
    cell = {"amp": amp, "precision": precision(amp, device), "batch_size": batch_size, "packed": packed}
    torch.manual_seed(0)
    try:
        model = fix_recurrence(RNNClassifier(model_config).to(device), packed)
        pin = device.type == "cuda"
        loader = make_loader(encoded, batch_size, shuffle=True, seed=0, pin_memory=pin)
        cell["training"] = timed_steps(TrainingStep(model, amp, device), iter(loader), grid, grid.train_seconds,
                                       device)
        loader = make_loader(encoded, batch_size, shuffle=True, seed=1, pin_memory=pin)
        cell["inference"] = timed_steps(InferenceStep(model, amp, device), iter(loader), grid,
                                        grid.train_seconds / 2, device)
    except (RuntimeError, StopIteration) as error:  # torch.OutOfMemoryError is a RuntimeError
        cell["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return cell


def cell_epoch(cell: dict, encoded: EncodedSplit) -> float:
    """A cell's epoch, extrapolated: the epoch's real tokens at the rate of the timed steps (inf if it failed)."""
    if "error" in cell:
        return float("inf")
    return int(encoded.lengths.sum()) * cell["training"]["seconds"] / cell["training"]["tokens"]


def cell_row(cell: dict, encoded: EncodedSplit, floors: dict) -> str:
    floor = floors[(cell["amp"], cell["batch_size"])]
    opening = (f"| {cell['precision']} | {cell['batch_size']} | {'packed' if cell['packed'] else 'padded'} | ")
    if "error" in cell:
        return opening + f"failed: {cell['error'].replace('|', '/')} | | {floor['train_s']:.3f} | | | | |"
    training, inference = cell["training"], cell["inference"]
    epoch = cell_epoch(cell, encoded)
    return opening + (f"{training['tokens'] / training['seconds']:,.0f} | {epoch:.2f} | {floor['train_s']:.3f} | "
                      f"{epoch / floor['train_s']:.1f}x | {inference['texts'] / inference['seconds']:,.0f} | "
                      f"{len(encoded) / floor['inference_s']:,.0f} | {training['steps']} + {inference['steps']} |")


def grid_floors(encoded: EncodedSplit, grid: GpuGrid, device: torch.device) -> tuple[dict, dict]:
    """The measured matrix-multiply rates at each batch size, in float32 (TF32 as cuDNN allows it) and float16, and
    the floor of an epoch's training and inference from them."""
    tokens = int(encoded.lengths.sum())
    train_flops = epoch_flops(tokens, grid.embedding_dim, grid.hidden_dim)
    inference_flops = epoch_flops(tokens, grid.embedding_dim, grid.hidden_dim, passes=1)
    rates, floors = {}, {}
    for amp, batch_size in itertools.product((False, True), grid.batch_sizes):
        dtype = AMP_DTYPES[device.type] if amp else torch.float32
        rates[(amp, batch_size)] = lstm_rates(batch_size, grid.max_length, grid.embedding_dim, grid.hidden_dim,
                                              dtype, device)
        floors[(amp, batch_size)] = {"train_s": floor_seconds(train_flops, rates[(amp, batch_size)]),
                                     "inference_s": floor_seconds(inference_flops, rates[(amp, batch_size)])}
    return rates, floors


def gpu_lines(cells: list[dict], encoded: EncodedSplit, grid: GpuGrid, rates: dict, floors: dict,
              device: torch.device) -> list[str]:
    gates = 4 * grid.hidden_dim
    plain, amp = f"float32{' (TF32)' if device.type == 'cuda' else ''}", precision(True, device)
    rate_rows = [f"| {batch_size} | {describe_rate(rates[(False, batch_size)]['input'])} | "
                 f"{describe_rate(rates[(True, batch_size)]['input'])} | "
                 f"{describe_rate(rates[(False, batch_size)]['recurrent'])} | "
                 f"{describe_rate(rates[(True, batch_size)]['recurrent'])} |" for batch_size in grid.batch_sizes]
    best = min(cells, key=lambda cell: cell_epoch(cell, encoded))
    fastest = cell_epoch(best, encoded)
    return [
        "| precision | batch | recurrence | training tokens/s | epoch (s) | floor (s) | over the floor | inference "
        "reviews/s | at the floor | steps timed (training + inference) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *(cell_row(cell, encoded, floors) for cell in cells), "",
        f"Fastest epoch: {fastest:.2f} s ({best['precision']}, batch "
        f"{best['batch_size']}, {'packed' if best['packed'] else 'padded'}); the goal, a CUDA epoch of a BiLSTM "
        f"256/256 in at most 3 s: {goal_met(fastest <= 3)}.", "",
        f"Matrix-multiply rates (torch.matmul, median of 11 timings after 3 warm-up calls), input projection "
        f"[batch x {grid.max_length}, {grid.embedding_dim}] x [{grid.embedding_dim}, {gates}] and one recurrent "
        f"step [batch, {grid.hidden_dim}] x [{grid.hidden_dim}, {gates}]. One product per call, launched from "
        "Python: at the small recurrent shapes that times the launch as much as the arithmetic, so kernels that run "
        "many steps in one launch (cuDNN's persistent RNN kernels) can come in under this floor.", "",
        f"| batch | input, {plain} | input, {amp} | recurrent, {plain} | recurrent, {amp} |",
        "|---:|---:|---:|---:|---:|", *rate_rows, "",
    ]


def gpu_suite(args, device: torch.device, command: str) -> dict:
    grid = QUICK_GRID if args.quick else GpuGrid()
    load_start = load_average()
    started = time.perf_counter()
    encoded, model_config = encode_imdb(Path(args.data), grid)
    print(f"encoded {len(encoded):,} reviews, {int(encoded.lengths.sum()):,} tokens in "
          f"{time.perf_counter() - started:.1f} s; model {model_config}", flush=True)
    rates, floors = grid_floors(encoded, grid, device)
    print(f"matrix-multiply rates: {rates}", flush=True)
    cells = []
    for amp, batch_size, packed in itertools.product((False, True), grid.batch_sizes, (True, False)):
        cells.append(measure_cell(model_config, encoded, batch_size, amp, packed, device, grid))
        print(cell_row(cells[-1], encoded, floors), flush=True)
    load_end = load_average()
    lines = [
        f"{produced_by(command)}, in {time.perf_counter() - started:.0f} s.", "",
        f"- Machine: {describe_machine(device)}. Load average (1 minute): {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end.",
        f"- Data: {len(encoded):,} IMDB training reviews, {int(encoded.lengths.sum()):,} real tokens after textrnn's "
        f"tokenizer (document preset: {grid.max_length} tokens kept, head+tail).",
        f"- Model: textrnn's RNNClassifier, a one-layer BiLSTM {grid.embedding_dim}/{grid.hidden_dim}, max pooling, "
        "word dropout 0.2, dropout 0.3, no bag of n-grams; a step as textrnn's (autocast, GradScaler under float16, "
        "gradient clipping, fused AdamW) on textrnn's shuffled length-bucketed batches. `packed`: "
        "`encode(..., packed=True)`, cuDNN's packed kernels (textrnn's choice on CUDA); `padded`: "
        "`packed=False`, the per-direction padded kernels of textrnn's CPU path.",
        f"- Time-boxed: each cell trains for {grid.train_seconds:g} s (at least {grid.min_steps} steps, after "
        f"{grid.warmup_steps} untimed ones, the GPU synchronised before and after) and the epoch is extrapolated "
        f"from the real tokens per second of those steps; inference (`inference_mode`, from token ids, the same "
        f"batch size) is timed for {grid.train_seconds / 2:g} s the same way. No accuracy is measured here.",
        "- The floor: forward and backward FLOPs (3x the forward) of the epoch's real tokens (inference: forward "
        "only), each product kind at its measured rate below, in float16 with AMP and float32 (TF32, as cuDNN's "
        "default allows) without; embedding lookups, nonlinearities, pooling, the head and the optimiser are left "
        "out.", "",
        *gpu_lines(cells, encoded, grid, rates, floors, device),
    ]
    publish(lines, args.output, "benchmark_speed_gpu", write=not args.quick)
    return {"grid": asdict(grid), "rates": {str(key): value for key, value in rates.items()},
            "floors": {str(key): value for key, value in floors.items()}, "cells": cells,
            "load_average": [load_start, load_end]}


# ----------------------------------------------------------------------------- suite full: one epoch on all of IMDB


def run_reference(data, config: TrainConfig, device) -> dict:
    """Tokenise, build the vocabulary, train one epoch, evaluate: the tutorial way, each step timed."""
    result = {}
    started = time.perf_counter()
    train_tokens = [reference_tokenize(text) for text in data.train["text"]]
    tokenized = time.perf_counter()
    vocab = reference_vocabulary(train_tokens, config.vocab_size, config.min_freq)
    counted = time.perf_counter()
    train_ids = [reference_numericalize(tokens, vocab, config.max_length) for tokens in train_tokens]
    result["encode_s"] = (tokenized - started) + (time.perf_counter() - counted)
    result["vocabulary_s"] = counted - tokenized
    result["raw_tokens"] = sum(map(len, train_tokens))
    valid_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.validation["text"]]

    torch.manual_seed(config.seed)
    model = ReferenceLSTM(len(vocab) + 2, config.embedding_dim, config.hidden_dim, len(data.label_names),
                          config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    reference_train_epoch(model, optimizer, train_ids, data.train["label"], config.batch_size, device, seed=0)
    reference_predict(model, valid_ids, config.batch_size, device)  # the epoch's validation pass, as textrnn's
    result["epoch_s"] = time.perf_counter() - started
    result["train_tokens"] = sum(map(len, train_ids))

    started = time.perf_counter()  # the evaluation loop, from raw text
    test_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.test["text"]]
    predictions = reference_predict(model, test_ids, 256, device)
    result["predict_s"] = time.perf_counter() - started
    result["accuracy"] = float((predictions == np.asarray(data.test["label"])).mean())

    def classify_one():
        ids = torch.tensor([reference_numericalize(reference_tokenize(SHORT_SENTENCE), vocab, config.max_length)])
        model.eval()
        with torch.no_grad():
            return torch.softmax(model(ids.to(device), torch.tensor([ids.size(1)])), -1).cpu()

    result["latency"] = latencies(classify_one)
    return result


def measure_encoding(data, config: TrainConfig) -> dict:
    """textrnn's tokenizer: learning the vocabulary, encoding the training texts, and reading them cached."""
    started = time.perf_counter()
    tokenizer = train_tokenizer(data.train["text"], config.tokenizer_config(), num_texts=len(data.train))
    learnt = time.perf_counter()
    encode_batch(tokenizer, data.train["text"], config.tokenizer_config())
    result = {"vocabulary_s": learnt - started, "encode_s": time.perf_counter() - learnt}
    untruncated = Tokenizer.from_str(tokenizer.to_str())  # tokens read before truncation: the rate's unit
    untruncated.no_truncation()
    result["raw_tokens"] = sum(len(e.ids) for e in untruncated.encode_batch_fast(data.train["text"]))
    encode_split(data.train, tokenizer, config.tokenizer_config(), data.task)  # fills the datasets cache if it is empty
    started = time.perf_counter()
    encode_split(data.train, tokenizer, config.tokenizer_config(), data.task)
    result["cached_encode_s"] = time.perf_counter() - started
    return result


def run_textrnn(data, config: TrainConfig, device, with_inference: bool = True) -> dict:
    """One epoch through `train` (textrnn's own code path), then inference through `classify_text`."""
    summary = train(config)
    history = [json.loads(line) for line in (Path(config.output) / "metrics.jsonl").read_text().splitlines()]
    settings = json.loads((Path(config.output) / "train_config.json").read_text())
    classifier = load(config.output, device=device)
    sequences = encode_batch(classifier.tokenizer, data.train["text"], classifier.tokenizer_config)
    result = {"epoch_s": history[0]["seconds"], "accuracy": summary["report"]["accuracy"],
              "train_tokens": sum(map(len, sequences)), "settings": settings}
    if with_inference:
        started = time.perf_counter()
        classifier.predict_proba(data.test["text"])
        result["predict_s"] = time.perf_counter() - started
        result["latency"] = latencies(lambda: classify_text(SHORT_SENTENCE, classifier))
    return result


def ratio(ours: float, reference: float) -> str:
    return f"{ours / reference:.2f}x"


def full_table(reference: dict, encoding: dict, ours: dict, variants: list[tuple[str, dict]], test_texts: int) -> list[str]:
    ref_encode = reference["raw_tokens"] / reference["encode_s"]
    our_encode = encoding["raw_tokens"] / encoding["encode_s"]
    ref_train = reference["train_tokens"] / reference["epoch_s"]
    our_train = ours["train_tokens"] / ours["epoch_s"]
    ref_docs, our_docs = test_texts / reference["predict_s"], test_texts / ours["predict_s"]
    rows = [
        ("tokenise + numericalise the training texts (tokens/s)", f"{ref_encode / 1e6:.2f}M", f"{our_encode / 1e6:.2f}M",
         ratio(our_encode, ref_encode)),
        ("the same, the second time (s)", f"{reference['encode_s']:.2f} (computed again)",
         f"{encoding['cached_encode_s']:.2f} (datasets cache)", ratio(reference["encode_s"], encoding["cached_encode_s"])),
        ("learn the vocabulary (s)", f"{reference['vocabulary_s']:.2f}", f"{encoding['vocabulary_s']:.2f}",
         ratio(reference["vocabulary_s"], encoding["vocabulary_s"])),
        ("one training epoch with its validation pass (s)", f"{reference['epoch_s']:.1f}", f"{ours['epoch_s']:.1f}",
         ratio(reference["epoch_s"], ours["epoch_s"])),
        ("training throughput (real tokens/s)", f"{ref_train / 1e3:.1f}k", f"{our_train / 1e3:.1f}k",
         ratio(our_train, ref_train)),
        ("test accuracy after that epoch", f"{reference['accuracy']:.2%}", f"{ours['accuracy']:.2%}", ""),
        ("inference on the test reviews from raw text (docs/s)", f"{ref_docs:.0f}", f"{our_docs:.0f}",
         ratio(our_docs, ref_docs)),
        ("classify one short sentence, p50 (ms)", f"{reference['latency']['p50_ms']:.2f}",
         f"{ours['latency']['p50_ms']:.2f}", ratio(reference["latency"]["p50_ms"], ours["latency"]["p50_ms"])),
        ("classify one short sentence, p99 (ms)", f"{reference['latency']['p99_ms']:.2f}",
         f"{ours['latency']['p99_ms']:.2f}", ratio(reference["latency"]["p99_ms"], ours["latency"]["p99_ms"])),
    ]
    for name, variant in variants:
        throughput = variant["train_tokens"] / variant["epoch_s"]
        rows.append((f"textrnn {name}: epoch (s), tokens/s, accuracy", "",
                     f"{variant['epoch_s']:.1f} s, {throughput / 1e3:.1f}k/s, {variant['accuracy']:.2%}",
                     ratio(throughput, ref_train)))
    return ["| measure | tutorial reference | textrnn | textrnn's gain |", "|---|---:|---:|---:|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)]


def full_suite(args, device: torch.device, command: str) -> dict:
    """The older table: one epoch of each side on textrnn's split of all of IMDB at textrnn's defaults for it,
    with tokenising, inference and one-sentence latency beside it."""
    raw = load_splits(args.data)
    base = TrainConfig(dataset=args.data, force=True, epochs=1, device=args.device, progress=False)
    data = prepare_data(raw, validation_size=base.validation_size, seed=base.seed)
    if args.quick:
        data.train, data.test = data.train.shuffle(seed=0).select(range(2000)), data.test.shuffle(seed=0).select(range(1000))
    config = base.resolve(data.train["text"])
    print(f"data: {len(data.train):,} train, {len(data.validation):,} validation, {len(data.test):,} test texts; "
          f"preset {config.preset}: BiLSTM {config.embedding_dim}/{config.hidden_dim}, batch {config.batch_size}, "
          f"max length {config.max_length}", flush=True)
    encoding = measure_encoding(data, config)
    print(f"textrnn encoding: {encoding}", flush=True)
    reference = run_reference(data, config, device)
    print(f"reference: {reference}", flush=True)
    runs = Path(args.workdir) / "full"
    if args.quick:  # train on the same small slice the reference saw
        (runs / "data").mkdir(parents=True, exist_ok=True)
        for split in ("train", "validation", "test"):
            getattr(data, split).to_parquet(str(runs / "data" / f"{split}.parquet"))
        config = replace(config, dataset=str(runs / "data"))
    ours = run_textrnn(data, replace(config, output=str(runs / "default")), device)
    print(f"textrnn: { {k: v for k, v in ours.items() if k != 'settings'} }", flush=True)
    variants = [("--amp (bfloat16 on the CPU)" if device.type == "cpu" else "--amp (float16)",
                 run_textrnn(data, replace(config, amp=True, output=str(runs / "amp")), device, with_inference=False))]
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(device)}.",
        f"- Data: IMDB, {len(data.train):,} training reviews (textrnn's split of the 25,000; the other "
        f"{len(data.validation):,} are the validation pass), {len(data.test):,} test reviews.",
        f"- Both sides: vocabulary {config.vocab_size:,}, minimum frequency {config.min_freq}, {config.max_length} "
        f"tokens kept, BiLSTM {config.embedding_dim}/{config.hidden_dim}, batch {config.batch_size}, one epoch, "
        f"seed {config.seed}. textrnn runs its defaults for these texts (preset `{config.preset}`: "
        f"{config.truncation} truncation, {config.pooling} pooling, word dropout {config.word_dropout}); "
        "the reference keeps the first tokens and the final hidden states, as the tutorials do.", "",
        *full_table(reference, encoding, ours, variants, len(data.test)), "",
    ]
    publish(lines, args.output, "benchmark_speed_full", write=not args.quick)
    return {"reference": reference, "encoding": encoding,
            "textrnn": {k: v for k, v in ours.items() if k != "settings"}}


# ----------------------------------------------------------------------------- the command line

SUITES = {"compare": compare_suite, "gpu": gpu_suite, "full": full_suite}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"),
                        help="IMDB's folder (compare and gpu read its train.parquet)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--suite", choices=SUITES, help="default: gpu with a CUDA --device, compare otherwise")
    parser.add_argument("--quick", action="store_true", help="a small run of the suite, to see that it works; "
                        "writes nothing")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="the Markdown file whose "
                        "block the suite replaces (a new file holds the block alone)")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "textrnn-benchmark-speed"))
    parser.add_argument("--peer-run", help=argparse.SUPPRESS)  # compare's peer, in a process of its own
    args = parser.parse_args(argv)
    if args.peer_run:
        print(PEER_RESULT + json.dumps(peer_run(json.loads(args.peer_run))))
        return 0
    quiet_datasets()
    device = torch.device(args.device)
    suite = args.suite or ("gpu" if device.type == "cuda" else "compare")
    command = " ".join(["python scripts/benchmark_speed.py", *([f"--device {args.device}"] if args.device != "cpu"
                                                              else []),
                        *([f"--suite {suite}"] if args.suite else []), *(["--quick"] if args.quick else [])])
    print(f"machine: {describe_machine(device)}", flush=True)
    results = SUITES[suite](args, device, command)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
