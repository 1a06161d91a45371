"""`textrnn predict --input big.parquet --output out.parquet` on a million rows: wall time, rows/s, peak memory.

    .venv/bin/python scripts/benchmark_predict.py --model runs/sst2                      # 1,000,000 rows
    .venv/bin/python scripts/benchmark_predict.py --model runs/sst2 --rows 2000           # a smoke run
    .venv/bin/python scripts/benchmark_predict.py --model runs/sst2 --input reviews.parquet
    .venv/bin/python scripts/benchmark_predict.py --model runs/sst2 --publish             # also into docs/predicting.md

Without --input it writes a parquet file of --rows short reviews (columns id, text): the sentences of
../shared/data/sst2's training split, shuffled and repeated with a seed, written row group by row group so that
making them takes little memory. It then runs `textrnn predict MODEL --input big.parquet --output out.parquet` as a
subprocess (python -m textrnn, the venv's own), and measures:
- the wall time of that subprocess, and rows per second;
- its peak resident memory: resource.getrusage(RUSAGE_CHILDREN).ru_maxrss, the largest of the waited-for children
  (this script starts no other), which shows whether memory stays flat as rows grow (compare --rows 100000);
- the load average before and after (os.getloadavg()): the numbers mean something only on a quiet machine.

It prints one Markdown table (a header and a row), and checks that the output has one row per input row.
--publish puts the table between the predict-benchmark markers of docs/predicting.md (scripts/common.py: publish).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common import describe_machine, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT.parent / "shared" / "data" / "sst2" / "train.parquet"
ROW_GROUP = 100_000
HEADER = ["| rows | wall time | rows/s | peak RSS | chunk size | batch size | load average before / after |",
          "|---:|---:|---:|---:|---:|---:|---|"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved model directory (textrnn train --output)")
    parser.add_argument("--input", type=Path, help="an existing parquet file to classify (default: one made of "
                        "--rows SST-2 sentences)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to make (default: 1000000)")
    parser.add_argument("--sentences", type=Path, default=SENTENCES, help=f"where the texts come from (default: "
                        f"{SENTENCES.relative_to(ROOT.parent)}), its 'sentence' or 'text' column")
    parser.add_argument("--workdir", type=Path, help="where big.parquet and out.parquet go (default: a temporary "
                        "directory, removed at the end)")
    parser.add_argument("--chunk-size", type=int, default=8192, help="textrnn predict --chunk-size (default: 8192)")
    parser.add_argument("--batch-size", type=int, default=256, help="textrnn predict --batch-size (default: 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--publish", action="store_true", help="also write the table into docs/predicting.md")
    return parser.parse_args(argv)


def make_reviews(path: Path, rows: int, sentences: Path, seed: int) -> Path:
    """`rows` texts drawn from the sentences, shuffled and repeated, with an id column, one row group at a time."""
    table = pq.read_table(sentences)
    column = next(name for name in ("sentence", "text") if name in table.column_names)
    texts = np.asarray([text.strip() for text in table.column(column).to_pylist()], dtype=object)
    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            count = min(ROW_GROUP, rows - start)
            picked = texts[rng.integers(0, len(texts), size=count)]
            writer.write_table(pa.table({"id": np.arange(start, start + count), "text": picked.tolist()},
                                        schema=schema))
    return path


def run_predict(model: str, source: Path, output: Path, chunk_size: int, batch_size: int) -> float:
    """The wall time of `textrnn predict --input SOURCE --output OUTPUT` as a subprocess."""
    command = [sys.executable, "-m", "textrnn", "predict", model, "--input", str(source), "--output", str(output),
               "--chunk-size", str(chunk_size), "--batch-size", str(batch_size), "--force"]
    print("running:", " ".join(command), file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def benchmark(args, workdir: Path) -> list[str]:
    source = args.input or make_reviews(workdir / "big.parquet", args.rows, args.sentences, args.seed)
    rows = pq.ParquetFile(source).metadata.num_rows
    output = workdir / "out.parquet"
    before = load_average()
    seconds = run_predict(args.model, source, output, args.chunk_size, args.batch_size)
    after = load_average()
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    written = pq.ParquetFile(output).metadata.num_rows
    if written != rows:
        raise SystemExit(f"the output has {written} rows, the input {rows}")
    row = (f"| {rows:,} | {seconds:.1f} s | {rows / seconds:,.0f} | {peak_mib:,.0f} MiB | {args.chunk_size} | "
           f"{args.batch_size} | {before} / {after} |")
    import torch

    command = "scripts/benchmark_predict.py --model MODEL" + (f" --rows {args.rows}" if args.input is None else "")
    return [f"{produced_by(command)}, on {describe_machine(torch.device('cpu'))}.", "", *HEADER, row]


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.input is None and args.rows < 1:
        raise SystemExit("--rows must be at least 1")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        lines = benchmark(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="benchmark-predict-") as scratch:
            lines = benchmark(args, Path(scratch))
    publish(lines, ROOT / "docs" / "predicting.md", "predict-benchmark", write=args.publish,
            title="Predicting files")


if __name__ == "__main__":
    main()
