"""What `--amp` does on this CPU: training throughput in float32 and with --amp, natively and held to AVX2.

    .venv/bin/python scripts/benchmark_amp.py            # writes its table into docs/BENCHMARKS.md
    .venv/bin/python scripts/benchmark_amp.py --quick    # 300 reviews; writes nothing

On the CPU `--amp` is bfloat16 autocast. PyTorch's CPU RNN kernels (oneDNN) have bfloat16 LSTM primitives
only where the CPU has AVX-512 or AMX; elsewhere textrnn's probe (textrnn.training.optim.cpu_autocast_works) finds
that out and the run trains in float32. Each setting runs in a process of its own, since oneDNN reads
ONEDNN_MAX_CPU_ISA when it starts: natively, and with ONEDNN_MAX_CPU_ISA=AVX2, which makes this CPU's
kernels behave as on one without AVX-512. Every process times one pass of textrnn's own training loop
(textrnn.training.loop.FineTuning.train_epoch) over the same IMDB training reviews with the `document` preset's model (BiLSTM 300/128,
512 tokens, batch 32), after a warm-up pass over a few batches.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from textrnn.training.config import TrainConfig
from textrnn.data import encode_split, load_splits, prepare_data, quiet_datasets
from textrnn.model import RNNClassifier
from textrnn.training.distributed import Distributed
from textrnn.training.loop import FineTuning
from textrnn.training.optim import use_amp
from textrnn.training.rundir import StopRequest
from textrnn.tokenizer import train_tokenizer

from common import describe_machine, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"native": {}, "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_flags() -> str:
    try:
        flags = next(line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    return ", ".join(flag for flag in CPU_FLAGS if flag in flags) or "none of " + ", ".join(CPU_FLAGS)


def time_training(config: TrainConfig, train_set, vocab_size: int, task, amp: bool) -> dict:
    """One timed pass of textrnn's training loop, after a warm-up over the last 5 batches of an epoch."""
    torch.manual_seed(config.seed)
    model = RNNClassifier(config.model_config(vocab_size, len(task.labels)))
    device = torch.device("cpu")
    notes = []
    config = replace(config, amp=use_amp(amp, device, model.config, notes.append), epochs=2, warmup=0.0,
                     checkpoint_every=0.0, progress=False)
    with tempfile.TemporaryDirectory() as output, StopRequest(enabled=False) as stop:
        loop = FineTuning(model, task, train_set, train_set, config, device, Distributed(), Path(output))
        loop.state["step"] = len(loop.train_loader) - 5
        loop.train_epoch(model, 0, stop)
        started = time.perf_counter()
        loss, _ = loop.train_epoch(model, 1, stop)
        seconds = time.perf_counter() - started
    return {"asked": amp, "ran": "bfloat16" if config.amp else "float32", "seconds": seconds,
            "tokens_per_s": float(train_set.lengths.sum()) / seconds, "train_loss": loss, "note": " ".join(notes)}


def child(args) -> None:
    """Measure float32 and --amp in this process; print one JSON line."""
    quiet_datasets()
    raw = load_splits(args.data)
    data = prepare_data(raw, validation_size=0.1, seed=0)
    train_split = data.train.shuffle(seed=0).select(range(args.texts))
    config = TrainConfig(preset="document").resolve(train_split["text"])
    tokenizer = train_tokenizer(train_split["text"], config.tokenizer_config(), num_texts=len(train_split))
    train_set = encode_split(train_split, tokenizer, config.tokenizer_config(), data.task)
    runs = [time_training(config, train_set, tokenizer.get_vocab_size(), data.task, amp)
            for amp in (False, True)]
    print(json.dumps({"machine": describe_machine(torch.device("cpu")), "cpu_flags": cpu_flags(), "texts": args.texts,
                      "tokens": int(train_set.lengths.sum()), "runs": runs}))


def table(results: dict) -> list[str]:
    lines = ["| oneDNN kernels | run | computed in | one pass (s) | real tokens/s | against float32 |",
             "|---|---|---|---:|---:|---:|"]
    for setting, result in results.items():
        float32 = result["runs"][0]["tokens_per_s"]
        for run in result["runs"]:
            name = "--amp" if run["asked"] else "default"
            speed = run["tokens_per_s"]
            lines.append(f"| {setting} | {name} | {run['ran']} | {run['seconds']:.1f} | {speed / 1e3:.1f}k "
                         f"| {speed / float32:.2f}x |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--texts", type=int, default=2000, help="training reviews per timed pass")
    parser.add_argument("--quick", action="store_true", help="300 reviews; writes nothing")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.texts = 300
    if args.child:
        child(args)
        return 0
    results = {}
    for setting, environment in SETTINGS.items():
        command = [sys.executable, __file__, "--child", "--data", args.data, "--texts", str(args.texts)]
        finished = subprocess.run(command, env={**os.environ, **environment}, capture_output=True, text=True,
                                  check=True)
        results[setting] = json.loads(finished.stdout.strip().splitlines()[-1])
        print(f"{setting}: {results[setting]}")
    native = results["native"]
    command = "python scripts/benchmark_amp.py" + (f" --texts {args.texts}" if args.texts != 2000 else "")
    notes = sorted({run["note"] for result in results.values() for run in result["runs"] if run["note"]})
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {native['machine']}; CPU flags: {native['cpu_flags']}.",
        f"- Data: {native['texts']:,} IMDB training reviews ({native['tokens']:,} tokens after truncation), the "
        "`document` preset's model (BiLSTM 300/128, 512 tokens, batch 32), one pass of textrnn's training loop.",
        "- *AVX2*: the same CPU with `ONEDNN_MAX_CPU_ISA=AVX2`, as a CPU without AVX-512 runs.",
        *(f"- The log there: \"{note}\"" for note in notes), "",
        *table(results),
    ]
    publish(lines, args.output, "benchmark_amp", write=not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
