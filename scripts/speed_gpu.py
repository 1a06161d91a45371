"""scripts/benchmark_speed.py's gpu suite: one IMDB epoch at AMP on and off, batches of 32, 128 and 512, packed
against padded, each cell time-boxed, with the floor beside it (docs/GPU.md).
"""

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from textrnn.batching import EncodedSplit, make_loader
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.tokenizer import encode_batch, train_tokenizer
from textrnn.training.config import TrainConfig

from common import describe_machine, produced_by, publish
from speed_floor import (AMP_DTYPES, describe_rate, epoch_flops, floor_seconds, goal_met, load_average, lstm_rates,
                         precision, synchronize)

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


