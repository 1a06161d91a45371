"""The floor of scripts/benchmark_speed.py: this machine's measured matrix-multiply rates at the shapes an LSTM
step uses, applied to the FLOPs of an epoch's real tokens.
"""

import os
import statistics
import time
from contextlib import contextmanager

import numpy as np
import torch


AMP_DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}  # textrnn's --amp: float16 + GradScaler on CUDA

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


