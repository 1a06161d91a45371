"""`textrnn serve` under load on loopback: requests/s and latency, with and without dynamic batching.

    .venv/bin/textrnn train --dataset ../shared/data/sst2 --output runs/sst2-1epoch --epochs 1
    .venv/bin/python scripts/benchmark_serve.py --model runs/sst2-1epoch           # writes docs/BENCHMARKS.md
    .venv/bin/python scripts/benchmark_serve.py --model runs/sst2-1epoch --quick   # 300 requests a run, one run; writes nothing

Real `textrnn serve` processes listen on free loopback ports: with dynamic batching (the default) on each engine
(`--engine torch` and `--engine onnx`), with `--no-batching` (a forward pass per request, each in a thread), with
`--max-batch-size 1` (the batching worker held to one request at a time) and with `--workers 2` (two processes on
one port, at 32 clients only); all but the engine rows run the script's `--engine` (default: onnx). Closed-loop clients (1, 8 and 32 at once, each waiting for its answer before
sending the next) post one SST-2 validation sentence per request to /predict over keep-alive connections, until
a bounded number of requests or a time limit. The clients are a small asyncio HTTP/1.1 client in this process,
so that the client costs little of the CPU it shares with the servers.
Latency is end to end as a client sees it: from writing the request to reading the whole answer.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import torch

from common import describe_machine, percentiles_ms, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent

CLIENTS = (1, 8, 32)
ENGINES = ("torch", "onnx")


def make_settings(engine: str) -> dict:
    """{row name: (serve's flags, the client counts it is measured at)}. Two servers without batching: a forward pass
    per request in FastAPI's way (a thread each, running at once), and the batching worker held to one request at a
    time (--max-batch-size 1); the batching goal is held against the faster. --workers 2 is held against one worker
    of the same engine at 32 clients."""
    settings = {f"dynamic batching, {name}": (["--engine", name], CLIENTS) for name in ENGINES}
    settings[f"no batching, a thread per request, {engine}"] = (["--engine", engine, "--no-batching"], CLIENTS)
    settings[f"no batching, one at a time, {engine}"] = (["--engine", engine, "--max-batch-size", "1"], CLIENTS)
    settings[f"dynamic batching, {engine}, 2 workers"] = (["--engine", engine, "--workers", "2"], (32,))
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, port: int, flags: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "textrnn", "serve", model, "--port", str(port), "--no-access-log", *flags]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"textrnn serve exited with {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("textrnn serve did not answer /health within 120 s")


async def post(reader, writer, body: bytes) -> None:
    writer.write(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    answer = await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"status {status}: {answer[:200]!r}")


async def load(port: int, bodies: list[bytes], clients: int, requests: int, seconds: float) -> dict:
    """Closed-loop clients until `requests` answers or `seconds` have passed; latencies in seconds."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    sent = 0

    async def client(number: int):
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while sent < requests and time.perf_counter() < deadline:
                body = bodies[(sent + number) % len(bodies)]
                sent += 1
                started = time.perf_counter()
                await post(reader, writer, body)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(clients)))
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "seconds": wall, "per_second": len(latencies) / wall,
            **percentiles_ms(latencies)}


def measure(model: str, bodies: list[bytes], requests: int, seconds: float, repeats: int, settings: dict) -> dict:
    """Every setting's rows. The servers run side by side and the rows are measured in turns, `repeats` times, so
    that a change in the machine's other load falls on every setting alike; each row is its median run."""
    ports = {setting: free_port() for setting in settings}
    servers = []
    try:
        for setting, (flags, _) in settings.items():
            servers.append(start_server(model, ports[setting], flags))
        for port in ports.values():
            asyncio.run(load(port, bodies, 4, 200, 10))  # warm-up: first calls, thread pools, allocator
        runs = {(setting, clients): [] for setting, (_, counts) in settings.items() for clients in counts}
        for _ in range(repeats):
            for clients in CLIENTS:
                for setting, port in ports.items():
                    if clients in settings[setting][1]:
                        runs[setting, clients].append(asyncio.run(load(port, bodies, clients, requests, seconds)))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
    return {setting: [median_run(runs[setting, clients]) for clients in counts]
            for setting, (_, counts) in settings.items()}


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda run: run["per_second"])[len(runs) // 2]


def describe_model(model_dir: str) -> str:
    model = json.loads((Path(model_dir) / "config.json").read_text())["model"]
    direction = "bidirectional " if model["bidirectional"] else ""
    return f"{model['num_layers']}-layer {direction}{model['cell']} {model['embedding_dim']}/{model['hidden_dim']}"


def table(results: dict) -> list[str]:
    lines = ["| server | clients at once | requests | requests/s | p50 (ms) | p99 (ms) |", "|---|---:|---:|---:|---:|---:|"]
    for setting, rows in results.items():
        for row in rows:
            lines.append(f"| {setting} | {row['clients']} | {row['requests']:,} | {row['per_second']:.0f} "
                         f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved model directory")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sst2" / "validation.parquet"))
    parser.add_argument("--requests", type=int, default=2000, help="requests per run at most (default: 2000)")
    parser.add_argument("--seconds", type=float, default=10, help="time limit per run (default: 10)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each row, the median kept (default: 3)")
    parser.add_argument("--engine", choices=ENGINES, default="onnx", help="the engine of the rows without batching "
                        "and of --workers 2 (default: onnx)")
    parser.add_argument("--quick", action="store_true", help="300 requests a row, one run; writes nothing")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.repeats = 300, 1
    sentences = pq.read_table(args.data, columns=["sentence"]).column("sentence").to_pylist()
    bodies = [json.dumps({"inputs": sentence}).encode() for sentence in sentences]
    results = measure(args.model, bodies, args.requests, args.seconds, args.repeats, make_settings(args.engine))
    command = f"python scripts/benchmark_serve.py --model {args.model}" + \
        (f" --requests {args.requests}" if args.requests != 2000 else "") + \
        (f" --engine {args.engine}" if args.engine != "onnx" else "")
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(torch.device('cpu'))}; the servers and the clients share its "
        f"{os.cpu_count()} cores (with whatever else runs on them).",
        f"- Model: `{args.model}` ({describe_model(args.model)}); "
        f"each request one SST-2 validation sentence ({len(sentences)} cycled); `textrnn serve` defaults "
        "(`--max-batch-size 32 --batch-wait-ms 2 --threads 1`) and `--no-access-log`, with the flags each row names.",
        f"- Each run: at most {args.requests:,} requests or {args.seconds:g} s, closed-loop clients on keep-alive "
        f"loopback connections, after 200 warm-up requests; the servers run side by side and are measured "
        f"in turns; each row is the median of {args.repeats} runs by requests/s.", "",
        *table(results), "", *goals(results, args.engine),
    ]
    publish(lines, args.output, "benchmark_serve", write=not args.quick)
    return 0


def goals(results: dict, engine: str) -> list[str]:
    """The server's goals against this run's rows."""
    one_client = {name: results[f"dynamic batching, {name}"][0]["p50_ms"] for name in ENGINES}
    batched = results[f"dynamic batching, {engine}"]
    unbatched = max((rows for setting, rows in results.items() if setting.startswith("no batching")),
                    key=lambda rows: rows[-1]["per_second"])
    two_workers = results[f"dynamic batching, {engine}, 2 workers"][-1]["per_second"]
    return [
        f"One client, batching on: p50 {one_client['onnx']:.2f} ms with onnx, {one_client['torch']:.2f} ms with "
        "torch (goal: at most 2 ms).",
        f"32 clients, {engine}: {batched[-1]['per_second'] / unbatched[-1]['per_second']:.2f}x the requests/s of the "
        "faster server without batching (goal: at least 3x); "
        f"`--workers 2`: {two_workers / batched[-1]['per_second']:.2f}x one worker (goal: at least 1.7x).",
    ]


if __name__ == "__main__":
    sys.exit(main())
