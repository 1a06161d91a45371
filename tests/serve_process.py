"""A real `textrnn serve` process (for the end-to-end and browser tests), a real uvicorn server in a thread of
this process (for the connection tests, with short timeouts), raw-socket helpers, and the tiny models that the
serve tests share: an ONNX export and a multi-label model, each made once per test session."""

import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import TINY_MODEL, make_texts, write_csv


def announced_url(log_path: Path) -> str | None:
    """The address `textrnn serve` says it listens on, once it has said so."""
    found = re.search(r"^textrnn serve: .* on (http://\S+) ", log_path.read_text(errors="replace"), re.MULTILINE)
    return found.group(1) if found else None


@contextlib.contextmanager
def running_server(model_dir, *flags: str, log_path=None):
    """Yields (process, base_url) once /health answers; the process is always stopped afterwards. It listens on
    --port 0, and the URL is the one it announces: the tests check that the announced address is the real one."""
    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "serve.log"
        log = stack.enter_context(open(log_path, "wb"))
        process = subprocess.Popen([sys.executable, "-m", "textrnn", "serve", str(model_dir), "--port", "0", *flags],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process, wait_until_healthy(process, log_path)
        finally:
            stop(process)


def wait_until_healthy(process: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + 120  # generous: importing torch on a loaded 2-core machine is slow
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"textrnn serve exited with status {process.returncode} before answering")
        url = announced_url(log_path)
        try:
            if url:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    return url
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("textrnn serve did not answer /health within 120 s")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def server_in_thread(app, settings):
    """serve()'s listener and uvicorn server for an app made by create_app, run in a thread; yields the port."""
    from textrnn.serve.server import bind_listener, make_server

    listener = bind_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    server = make_server(app, settings, access_log=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server in a thread did not start")
            time.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; socket.timeout if it does not in time."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[int, dict, bytes]:
    """(status, headers in lower case, body) of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def post_json(url: str, body, timeout: float = 60) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_text(url: str, timeout: float = 60) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def session_model(tmp_path_factory, name: str, make) -> Path:
    """tmp_path_factory's session folder `name`, made by make(folder) the first time any test module asks."""
    folder = tmp_path_factory.getbasetemp() / name
    if not (folder / "config.json").exists():
        make(folder)
    return folder


def onnx_export(tmp_path_factory, model_dir) -> Path:
    """model_dir exported to ONNX (float32) through the command line."""
    from textrnn.cli import main

    def export(folder: Path) -> None:
        assert main(["export", str(model_dir), "--output", str(folder)]) == 0

    return session_model(tmp_path_factory, "serve-onnx", export)


def multi_label_model(tmp_path_factory) -> Path:
    """A tiny multi-label model (pos or neg, and "long" for texts of 12 words or more) trained through the command
    line."""
    from textrnn.cli import main

    def train(folder: Path) -> None:
        data = folder.with_name(folder.name + "-data")
        data.mkdir()
        for split, count, seed in (("train", 300, 21), ("test", 100, 22)):
            rows = [(text, label + ("|long" if len(text.split()) >= 12 else "")) for text, label in
                    make_texts(count, seed)]
            write_csv(data / f"{split}.csv", rows, header=("text", "labels"))
        assert main(["train", "--train-file", str(data / "train.csv"), "--test-file", str(data / "test.csv"),
                     "--label-separator", "|", "--output", str(folder), "--epochs", "2", "--seed", "0",
                     *TINY_MODEL]) == 0

    return session_model(tmp_path_factory, "serve-multi-label", train)
