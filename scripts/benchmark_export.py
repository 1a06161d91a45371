"""PyTorch against the ONNX exports (onnxruntime float32 and int8), side by side in one run.

    .venv/bin/python scripts/benchmark_export.py --sst2-model runs/sst2 --imdb-model runs/imdb
    .venv/bin/python scripts/benchmark_export.py --sst2-model runs/sst2 --imdb-model runs/imdb --quick  # writes nothing

The two models are trained beforehand with `textrnn train` (the command used for the published table is
in docs/BENCHMARKS.md). Each is exported twice with textrnn.export.export_model (float32, and
--quantize int8) into a temporary directory, and all three are loaded with textrnn.load, so every
number goes through the same TextClassifier and classify_text. Measured, for each backend:
- the size of the weights file (model.safetensors or model.onnx);
- accuracy on SST-2 validation (all 872 sentences) and on IMDB test reviews (--limit of them, a seeded
  shuffle of the 25,000, so both labels are in), from raw text, with the largest probability difference
  from PyTorch over those texts;
- one short sentence through classify_text (SST-2 model): p50 and p99 over --calls calls after a warm-up;
- IMDB reviews per second from raw text (IMDB model, batches of 256): the fastest of --rounds passes,
  the backends taking turns, since the CPU is shared with other processes.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import onnxruntime  # after torch, in the order this script always loaded them

import textrnn
from textrnn.checkpoint import ONNX_FILE, WEIGHTS_FILE
from textrnn.data import load_splits, prepare_split, quiet_datasets
from textrnn.export import export_model

from common import describe_machine, latencies, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("PyTorch", "ORT float32", "ORT int8")
SENTENCE = "a gorgeous, witty, seductive movie."


def export_all(model_dir: Path, scratch: Path) -> dict:
    """{backend: (TextClassifier, weights file, what int8 did)} for one trained model."""
    found = {"PyTorch": (textrnn.load(model_dir), model_dir / WEIGHTS_FILE, "")}
    for backend, quantize in (("ORT float32", None), ("ORT int8", "int8")):
        output = scratch / f"{model_dir.name}-{quantize or 'float32'}"
        record = export_model(model_dir, output, quantize=quantize)
        found[backend] = (textrnn.load(output), output / ONNX_FILE, record["quantized"])
    return found


def labelled_texts(data: str, split: str, labels: list[str], limit: int | None) -> tuple[list[str], np.ndarray]:
    prepared = prepare_split(load_splits(data), split, None, None, labels)
    if limit and limit < len(prepared):
        prepared = prepared.shuffle(seed=0).select(range(limit))
    return list(prepared["text"]), np.array(prepared["label"])


def latency_ms(classifier, calls: int) -> tuple[float, float]:
    """(p50, p99) in ms of `calls` calls of classify_text on SENTENCE, after 50 untimed ones."""
    latency = latencies(lambda: textrnn.classify_text(SENTENCE, classifier), warmup=50, repeats=calls)
    return latency["p50_ms"], latency["p99_ms"]


def throughput(models: dict, texts: list[str], rounds: int) -> tuple[dict, dict]:
    """({backend: reviews/s, the best of `rounds` passes}, {backend: probabilities}) with the backends in turn."""
    speed, probabilities = dict.fromkeys(models, 0.0), {}
    for classifier, _, _ in models.values():  # warm-up: first calls allocate and pick kernels
        classifier.predict_proba(texts[:256], batch_size=256)
    for _ in range(rounds):
        for backend, (classifier, _, _) in models.items():
            started = time.perf_counter()
            probabilities[backend] = classifier.predict_proba(texts, batch_size=256)
            speed[backend] = max(speed[backend], len(texts) / (time.perf_counter() - started))
    return speed, probabilities


def measure(args) -> dict:
    quiet_datasets()
    with tempfile.TemporaryDirectory(prefix="benchmark-export-") as scratch:
        sst2 = export_all(Path(args.sst2_model), Path(scratch))
        imdb = export_all(Path(args.imdb_model), Path(scratch))
        results = {backend: {"sst2_mb": sst2[backend][1].stat().st_size / 1e6,
                             "imdb_mb": imdb[backend][1].stat().st_size / 1e6} for backend in BACKENDS}
        sentences, sentence_labels = labelled_texts(args.sst2_data, "validation", sst2["PyTorch"][0].labels, None)
        reviews, review_labels = labelled_texts(args.imdb_data, "test", imdb["PyTorch"][0].labels, args.limit)
        speed, review_probabilities = throughput(imdb, reviews, args.rounds)
        for backend in BACKENDS:
            sentence_probabilities = sst2[backend][0].predict_proba(sentences)
            p50, p99 = latency_ms(sst2[backend][0], args.calls)
            results[backend].update(
                sst2_accuracy=float((sentence_probabilities.argmax(1) == sentence_labels).mean()),
                imdb_accuracy=float((review_probabilities[backend].argmax(1) == review_labels).mean()),
                reviews_per_s=speed[backend], p50_ms=p50, p99_ms=p99, quantized=(sst2[backend][2], imdb[backend][2]),
                sentence_probabilities=sentence_probabilities, review_probabilities=review_probabilities[backend])
    for backend in BACKENDS:  # largest probability difference from PyTorch over every text measured
        results[backend]["max_difference"] = max(
            float(np.abs(results[backend][key] - results["PyTorch"][key]).max())
            for key in ("sentence_probabilities", "review_probabilities"))
    return {"results": results, "reviews": len(reviews), "sentences": len(sentences)}


def table(measured: dict) -> list[str]:
    results, torch_result = measured["results"], measured["results"]["PyTorch"]
    rows = [
        ("SST-2 model file (MB)", "sst2_mb", "{:.1f}"),
        ("IMDB model file (MB)", "imdb_mb", "{:.1f}"),
        (f"SST-2 validation accuracy ({measured['sentences']} sentences)", "sst2_accuracy", "{:.2%}"),
        (f"IMDB test accuracy ({measured['reviews']:,} reviews)", "imdb_accuracy", "{:.2%}"),
        ("largest probability difference from PyTorch, over all those texts", "max_difference", "{:.1e}"),
        ("one sentence, p50 (ms)", "p50_ms", "{:.2f}"),
        ("one sentence, p99 (ms)", "p99_ms", "{:.2f}"),
        ("IMDB test reviews/s from raw text, batches of 256", "reviews_per_s", "{:.0f}"),
    ]
    lines = [f"| measure | {' | '.join(BACKENDS)} |", "|---|" + "---:|" * len(BACKENDS)]
    for name, key, form in rows:
        lines.append(f"| {name} | " + " | ".join(form.format(results[b][key]) for b in BACKENDS) + " |")
    int8 = results["ORT int8"]
    lines += ["", "| goal | measured |", "|---|---|",
              "| float32 ONNX within 1e-4 of PyTorch in probability | "
              f"{results['ORT float32']['max_difference']:.1e} |",
              "| int8 loses at most 0.5 accuracy points | SST-2 "
              f"{(int8['sst2_accuracy'] - torch_result['sst2_accuracy']) * 100:+.2f}, IMDB "
              f"{(int8['imdb_accuracy'] - torch_result['imdb_accuracy']) * 100:+.2f} points |",
              "| int8 throughput at least 2x PyTorch's | "
              f"{int8['reviews_per_s'] / torch_result['reviews_per_s']:.2f}x |",
              "| int8 model file at most a third of PyTorch's | SST-2 "
              f"{int8['sst2_mb'] / torch_result['sst2_mb']:.2f}, "
              f"IMDB {int8['imdb_mb'] / torch_result['imdb_mb']:.2f} of the size |"]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sst2-model", required=True, help="a model trained on SST-2 (textrnn train)")
    parser.add_argument("--imdb-model", required=True, help="a model trained on IMDB (textrnn train)")
    parser.add_argument("--sst2-data", default=str(ROOT.parent / "shared" / "data" / "sst2"))
    parser.add_argument("--imdb-data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--limit", type=int, default=5000, help="IMDB test reviews (0: all 25,000)")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over the reviews per backend")
    parser.add_argument("--calls", type=int, default=1000, help="timed one-sentence calls per backend")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch's (and so onnxruntime's) threads; 0: as is")
    parser.add_argument("--quick", action="store_true", help="300 reviews, 200 calls, one round; writes nothing")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.calls, args.rounds = 300, 200, 1
    if args.threads:
        torch.set_num_threads(args.threads)  # before loading: onnxruntime sessions take PyTorch's thread count
    measured = measure(args)
    int8 = measured["results"]["ORT int8"]["quantized"]
    command = (f"python scripts/benchmark_export.py --sst2-model {args.sst2_model} --imdb-model {args.imdb_model}"
               f" --limit {args.limit} --rounds {args.rounds} --calls {args.calls}"
               + (f" --threads {args.threads}" if args.threads else ""))
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(torch.device('cpu'))}; onnxruntime {onnxruntime.__version__} with as many "
        "threads as PyTorch. The CPU was shared with other processes while this ran: timings are noisy, "
        "throughput is the fastest of the passes.",
        f"- int8 (onnxruntime dynamic quantization) did, SST-2 model: {int8[0]}; IMDB model: {int8[1]}.", "",
        *table(measured),
    ]
    publish(lines, args.output, "benchmark_export", write=not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
