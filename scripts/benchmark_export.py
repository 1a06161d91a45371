"""PyTorch against the ONNX exports (onnxruntime float32 and the shipped int8), side by side in one run.

    .venv/bin/python scripts/benchmark_export.py --sst2-model runs/sst2 --imdb-model runs/imdb
    .venv/bin/python scripts/benchmark_export.py --sst2-model runs/sst2 --imdb-model runs/imdb --quick  # writes nothing
    # what the lead runs alone (the ONNX export section of docs/BENCHMARKS.md), with the int8 options not shipped:
    .venv/bin/python scripts/benchmark_export.py --sst2-model runs/sst2 --imdb-model runs/imdb --limit 3000 \
        --rounds 3 --calls 500 --threads 1 --alternatives   # add --no-write (or --output /tmp/x.md) to try it

The two models are trained beforehand with `textrnn train` (the command used for the published table is
in docs/BENCHMARKS.md). Each is exported twice with textrnn.export.export_model (float32, and
--quantize int8) into a temporary directory, and all three are loaded with textrnn.load, so every
number goes through the same TextClassifier and classify_text. Measured, for each backend:
- the size of the weights file (model.safetensors or model.onnx);
- accuracy on SST-2 validation (all 872 sentences) and on IMDB test reviews (--limit of them, a seeded
  shuffle of the 25,000, so both labels are in), from raw text, with the largest probability difference
  from PyTorch over those texts;
- one short sentence through classify_text (SST-2 model): p50 and p99 over --calls calls after a warm-up;
- IMDB reviews per second from raw text (IMDB model, batches of 256), and the model alone on the same
  batches tokenized beforehand (the tokenizer's share is the same for every backend, so it caps the
  end-to-end ratio): the fastest of --rounds passes, the backends taking turns, since the CPU is shared.
--alternatives adds, for the IMDB model, the int8 forms of onnxruntime that export does not ship
(per-channel weights, reduce_range, static QDQ calibrated on 512 training reviews), in the same turns.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import onnxruntime  # after torch, in the order this script always loaded them
from onnxruntime.quantization import CalibrationDataReader

import textrnn
from textrnn.checkpoint import ONNX_FILE, WEIGHTS_FILE
from textrnn.batching import collate
from textrnn.data import load_splits, prepare_split, quiet_datasets
from textrnn.export import describe_quantization, export_model
from textrnn.tokenizer import encode_batch

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


def batches_of(classifier, texts: list[str]) -> list[dict]:
    """The texts as predict_proba batches them (sorted by length, 256 a batch), tokenized once."""
    sequences = encode_batch(classifier.tokenizer, texts, classifier.tokenizer_config)
    order = np.argsort([len(sequence) for sequence in sequences], kind="stable")
    return [collate([sequences[i] for i in order[start : start + 256]]) for start in range(0, len(order), 256)]


def throughput(classifiers: dict, texts: list[str], rounds: int) -> tuple[dict, dict, dict]:
    """({backend: reviews/s from raw text}, {backend: reviews/s of the model alone}, {backend: probabilities}), the
    best of `rounds` passes with the backends in turn."""
    speed, model_speed, probabilities = dict.fromkeys(classifiers, 0.0), dict.fromkeys(classifiers, 0.0), {}
    batches = batches_of(next(iter(classifiers.values())), texts)
    for classifier in classifiers.values():  # warm-up: first calls allocate and pick kernels
        classifier.predict_proba(texts[:256], batch_size=256)
    for _ in range(rounds):
        for backend, classifier in classifiers.items():
            started = time.perf_counter()
            probabilities[backend] = classifier.predict_proba(texts, batch_size=256)
            speed[backend] = max(speed[backend], len(texts) / (time.perf_counter() - started))
            started = time.perf_counter()
            with torch.inference_mode():
                for batch in batches:
                    classifier.model(batch["ids"], batch["lengths"])
            model_speed[backend] = max(model_speed[backend], len(texts) / (time.perf_counter() - started))
    return speed, model_speed, probabilities


def tokenizer_speed(classifier, texts: list[str]) -> float:
    started = time.perf_counter()
    encode_batch(classifier.tokenizer, texts, classifier.tokenizer_config)
    return len(texts) / (time.perf_counter() - started)


class CalibrationReader(CalibrationDataReader):
    """Static quantization's calibration data: training texts, tokenized, in batches of 256 sorted by length."""

    def __init__(self, classifier, texts: list[str]):
        self.batches = iter([{"ids": batch["ids"].numpy(), "lengths": batch["lengths"].numpy()}
                             for batch in batches_of(classifier, texts)])

    def get_next(self):
        return next(self.batches, None)


def alternatives(float_dir: Path, scratch: Path, calibration: list[str]) -> dict:
    """{name: (TextClassifier, what it quantized)}: onnxruntime's other int8 forms of the float32 export."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    forms = {"int8 per-channel": lambda src, dst: quantize_dynamic(src, dst, per_channel=True),
             "int8 reduce_range": lambda src, dst: quantize_dynamic(src, dst, reduce_range=True),
             "int8 static QDQ": lambda src, dst: quantize_static(
                 src, dst, CalibrationReader(textrnn.load(float_dir), calibration), quant_format=QuantFormat.QDQ,
                 per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)}
    found = {}
    for name, quantize in forms.items():
        path = scratch / f"{name.replace(' ', '-')}.onnx"
        quantize(str(float_dir / ONNX_FILE), str(path))
        # the float32 export's TextClassifier running this graph: onnx_backend's checks want the embedding as a
        # Gather of a weight, which QDQ's is not (it gathers from a DequantizeLinear)
        classifier = textrnn.load(float_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.log_severity_level = torch.get_num_threads(), 3
        classifier.model.session = onnxruntime.InferenceSession(str(path), options,
                                                                providers=["CPUExecutionProvider"])
        found[name] = (classifier, describe_quantization(path))
    return found


def measure(args) -> dict:
    quiet_datasets()
    with tempfile.TemporaryDirectory(prefix="benchmark-export-") as scratch:
        sst2 = export_all(Path(args.sst2_model), Path(scratch))
        imdb = export_all(Path(args.imdb_model), Path(scratch))
        results = {backend: {"sst2_mb": sst2[backend][1].stat().st_size / 1e6,
                             "imdb_mb": imdb[backend][1].stat().st_size / 1e6} for backend in BACKENDS}
        sentences, sentence_labels = labelled_texts(args.sst2_data, "validation", sst2["PyTorch"][0].labels, None)
        reviews, review_labels = labelled_texts(args.imdb_data, "test", imdb["PyTorch"][0].labels, args.limit)
        others = {}
        if args.alternatives:
            calibration, _ = labelled_texts(args.imdb_data, "train", imdb["PyTorch"][0].labels, 512)
            others = alternatives(imdb["ORT float32"][1].parent, Path(scratch), calibration)
        classifiers = {name: found[0] for name, found in {**imdb, **others}.items()}
        speed, model_speed, review_probabilities = throughput(classifiers, reviews, args.rounds)
        for backend in BACKENDS:
            sentence_probabilities = sst2[backend][0].predict_proba(sentences)
            p50, p99 = latency_ms(sst2[backend][0], args.calls)
            results[backend].update(
                sst2_accuracy=float((sentence_probabilities.argmax(1) == sentence_labels).mean()),
                imdb_accuracy=float((review_probabilities[backend].argmax(1) == review_labels).mean()),
                reviews_per_s=speed[backend], model_reviews_per_s=model_speed[backend], p50_ms=p50, p99_ms=p99,
                quantized=(sst2[backend][2], imdb[backend][2]),
                sentence_probabilities=sentence_probabilities, review_probabilities=review_probabilities[backend])
        tokenizer = tokenizer_speed(imdb["PyTorch"][0], reviews)
    for backend in BACKENDS:  # largest probability difference from PyTorch over every text measured
        results[backend]["max_difference"] = max(
            float(np.abs(results[backend][key] - results["PyTorch"][key]).max())
            for key in ("sentence_probabilities", "review_probabilities"))
    alternative = {name: {"quantized": described, "reviews_per_s": speed[name], "model_reviews_per_s": model_speed[name],
                          "imdb_accuracy": float((review_probabilities[name].argmax(1) == review_labels).mean())}
                   for name, (_, described) in others.items()}
    return {"results": results, "reviews": len(reviews), "sentences": len(sentences), "alternatives": alternative,
            "tokenizer_reviews_per_s": tokenizer}


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
        ("the same, the model alone (tokenized beforehand)", "model_reviews_per_s", "{:.0f}"),
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
              f"{int8['reviews_per_s'] / torch_result['reviews_per_s']:.2f}x from raw text, "
              f"{int8['model_reviews_per_s'] / torch_result['model_reviews_per_s']:.2f}x the model alone |",
              "| int8 model file at most a third of PyTorch's | SST-2 "
              f"{int8['sst2_mb'] / torch_result['sst2_mb']:.2f}, "
              f"IMDB {int8['imdb_mb'] / torch_result['imdb_mb']:.2f} of the size |"]
    return lines + alternatives_table(measured)


def alternatives_table(measured: dict) -> list[str]:
    """The int8 forms not shipped (--alternatives), on the IMDB model, against PyTorch and the shipped int8."""
    if not measured["alternatives"]:
        return []
    results = measured["results"]
    rows = {"PyTorch": (results["PyTorch"], ""),
            "ORT int8 (shipped: dynamic, per tensor)": (results["ORT int8"], results["ORT int8"]["quantized"][1]),
            **{f"ORT {name}": (found, found["quantized"]) for name, found in measured["alternatives"].items()}}
    base = results["PyTorch"]
    lines = ["", f"| IMDB model, {measured['reviews']:,} test reviews | accuracy | reviews/s from raw text | "
             "the model alone | what it quantized |", "|---|---:|---:|---:|---|"]
    for name, (found, described) in rows.items():
        lines.append(f"| {name} | {found['imdb_accuracy']:.2%} | {found['reviews_per_s']:.0f} "
                     f"({found['reviews_per_s'] / base['reviews_per_s']:.2f}x) | {found['model_reviews_per_s']:.0f} "
                     f"({found['model_reviews_per_s'] / base['model_reviews_per_s']:.2f}x) | {described} |")
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
    parser.add_argument("--alternatives", action="store_true",
                        help="also onnxruntime's int8 forms that export does not ship (IMDB model)")
    parser.add_argument("--no-write", action="store_true", help="print the table only; --output is not touched")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.calls, args.rounds = 300, 200, 1
    if args.threads:
        torch.set_num_threads(args.threads)  # before loading: onnxruntime sessions take PyTorch's thread count
    load_before = os.getloadavg()[0]
    measured = measure(args)
    load_after = os.getloadavg()[0]
    int8 = measured["results"]["ORT int8"]["quantized"]
    command = (f"python scripts/benchmark_export.py --sst2-model {args.sst2_model} --imdb-model {args.imdb_model}"
               f" --limit {args.limit} --rounds {args.rounds} --calls {args.calls}"
               + (f" --threads {args.threads}" if args.threads else "")
               + (" --alternatives" if args.alternatives else ""))
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(torch.device('cpu'))}; onnxruntime {onnxruntime.__version__} with as many "
        f"threads as PyTorch. Load average (1 minute): {load_before:.2f} at the start, {load_after:.2f} at the end "
        "(above the benchmark's own 1, something else ran: then the timings are noisy); throughput is the fastest of "
        "the passes. "
        f"The tokenizer alone reads {measured['tokenizer_reviews_per_s']:.0f} IMDB reviews/s, in every backend's "
        "reviews/s from raw text.",
        f"- int8 (onnxruntime dynamic quantization) did, SST-2 model: {int8[0]}; IMDB model: {int8[1]}.", "",
        *table(measured),
    ]
    publish(lines, args.output, "benchmark_export", write=not (args.quick or args.no_write))
    return 0


if __name__ == "__main__":
    sys.exit(main())
