"""Speed on IMDB: textrnn against a tutorial-style PyTorch pipeline, and against the machine's own floor.

    .venv/bin/python scripts/benchmark_speed.py                   # the CPU comparison (~10 min on 2 cores)
    .venv/bin/python scripts/benchmark_speed.py --device cuda     # the GPU grid (AMP, batch sizes, packed/padded)
    .venv/bin/python scripts/benchmark_speed.py --suite full      # the older one-epoch table on all of IMDB
    .venv/bin/python scripts/benchmark_speed.py --quick           # any suite, small: a smoke test; writes nothing

Each suite publishes its own block of --output (docs/BENCHMARKS.md): benchmark_speed (compare),
benchmark_speed_gpu (gpu), benchmark_speed_full (full). Their parts: speed_reference.py (the tutorial peer),
speed_floor.py (matrix-multiply rates and the floor), speed_gpu.py (the gpu suite).

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
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer

from textrnn import classify_text, load
from textrnn.data import encode_split, load_splits, prepare_data, quiet_datasets
from textrnn.tokenizer import encode_batch, train_tokenizer
from textrnn.training.config import TrainConfig
from textrnn.training.train import train

from common import describe_machine, latencies, produced_by, publish
from speed_floor import describe_rate, epoch_flops, floor_seconds, goal_met, load_average, lstm_rates
from speed_gpu import gpu_suite
from speed_reference import (ReferenceLSTM, reference_numericalize, reference_predict, reference_tokenize,
                             reference_train_epoch, reference_vocabulary)

ROOT = Path(__file__).resolve().parent.parent
SHORT_SENTENCE = "a gorgeous, witty and moving film"
PEER_RESULT = "peer result: "  # the line a peer process prints its result on

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

