"""`textrnn serve --workers N` (N processes on one port, each with its own model) and `--engine`, through real
subprocesses on port 0 and the app in this process."""

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from helpers import make_texts  # noqa: E402
from serve_process import get_text, multi_label_model, onnx_export, post_json, running_server  # noqa: E402
from textrnn.errors import ConfigError  # noqa: E402
from textrnn.inference import load  # noqa: E402
from textrnn.serve import ServeSettings, create_app, serve  # noqa: E402
from textrnn.serve.settings import check_serve_options  # noqa: E402

TEXTS = [text for text, _ in make_texts(12, seed=5)]


def worker_pid(url: str) -> int:
    with urllib.request.urlopen(url + "/health", timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok"}
        return int(response.headers["x-textrnn-worker-pid"])


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` and that run a spawned worker (not multiprocessing's resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def requests_counted(url: str, route: str) -> float:
    text = get_text(url + "/metrics")
    return sum(float(value) for value in re.findall(rf'^textrnn_requests_total{{route="{route}",status="200"}} (\S+)$',
                                                     text, re.MULTILINE))


def test_workers_and_engine_are_checked_before_the_port_is_bound():
    for workers in (0, 65, 1.5, True):
        with pytest.raises(ConfigError, match="--workers must be a whole number from 1 to 64"):
            check_serve_options("127.0.0.1", 0, 1, ServeSettings(), workers=workers)
    with pytest.raises(ConfigError, match="--engine must be one of auto, torch, onnx"):
        check_serve_options("127.0.0.1", 0, 1, ServeSettings(), engine="tensorrt")
    with pytest.raises(ConfigError, match="--workers"):
        serve("no-such-model", port=0, workers=100)  # refused before the missing directory is even looked at


def test_predict_gives_the_same_scores_from_either_engine(trained_run, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    for model_dir in (trained_run, multi_label_model(tmp_path_factory)):
        answers = {}
        for engine in ("torch", "onnx"):
            classifier = load(model_dir, engine=engine)
            with TestClient(create_app(classifier)) as client:
                assert client.get("/info").json()["engine"] == engine
                answers[engine] = client.post("/predict", json={"inputs": TEXTS, "top_k": 0}).json()
        for by_torch, by_onnx in zip(answers["torch"], answers["onnx"]):
            rows = (by_torch, by_onnx) if isinstance(by_torch, list) else (by_torch["scores"], by_onnx["scores"])
            assert [r["label"] for r in rows[0]] == [r["label"] for r in rows[1]]
            assert [r["score"] for r in rows[0]] == pytest.approx([r["score"] for r in rows[1]], abs=1e-4)


@pytest.mark.slow
def test_two_workers_share_the_port_count_together_and_stop_on_sigterm(trained_run):
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "serve.log"
        with running_server(trained_run, "--workers", "2", "--no-access-log", log_path=log_path) as (process, url):
            announced = log_path.read_text()
            assert re.search(r"textrnn serve: .* on http://127\.0\.0\.1:\d+ \(.*2 workers, engine onnx\)", announced)
            workers = children(process.pid)
            assert len(workers) == 2
            status, answer = post_json(url + "/predict", {"inputs": "a superb film"})
            assert status == 200 and answer["label"] in ("pos", "neg")
            seen = set()
            deadline = time.monotonic() + 60
            with ThreadPoolExecutor(8) as pool:  # fresh connections at once: the kernel hands them to both
                while seen != workers and time.monotonic() < deadline:
                    seen.update(pool.map(worker_pid, [url] * 16))
            assert seen == workers
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda text: post_json(url + "/predict", {"inputs": text})[0], TEXTS * 4))
            assert statuses == [200] * len(TEXTS) * 4
            # whichever worker answers /metrics counts both workers' requests
            assert requests_counted(url, "/predict") == 1 + len(TEXTS) * 4
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert "Finished server process" in log_path.read_text()


@pytest.mark.slow
def test_a_worker_that_cannot_load_stops_the_server_with_its_error(trained_run, tmp_path_factory):
    exported = onnx_export(tmp_path_factory, trained_run)
    result = subprocess.run([sys.executable, "-m", "textrnn", "serve", str(exported), "--port", "0", "--workers",
                             "2", "--engine", "torch"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert "could not start" in result.stderr and "ONNX export" in result.stderr
