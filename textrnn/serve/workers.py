"""`textrnn serve --workers N`: N server processes on one port, each with its own model, as uvicorn's --workers.

The parent binds the listening socket once (server.bind_listener, before any model loads), then starts N worker
processes (spawned, so that none inherits the parent's state: each imports, loads the model and sets its threads
itself) that all accept connections from that socket; the kernel hands each connection to one of them. The
parent announces the address once every worker has loaded the model, and then only watches: a worker that dies
while serving is replaced (logged), one that fails to load stops them all with its error. SIGINT or SIGTERM stops
the workers as one server's stop: each stops taking connections and finishes its requests in flight.

/metrics adds up every worker's counts: the workers run prometheus-client's multiprocess mode, in a directory
of their own (PROMETHEUS_MULTIPROC_DIR, a fresh temporary directory removed at the end), so whichever worker
answers /metrics reports the whole server's requests, those of replaced workers included.
"""

import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading

from ..errors import TextRNNError
from .settings import MULTIPROC_DIR
STOP_TIMEOUT_S = 40  # uvicorn's graceful shutdown (30 s) and a margin, then a worker is killed
spawn = multiprocessing.get_context("spawn")


class Workers:
    """The parent's side: start, watch, replace and stop the worker processes."""

    def __init__(self, target, options, listener: socket.socket, count: int):
        self.target, self.options, self.listener, self.count = target, options, listener, count
        self.reports = spawn.Queue()
        self.processes: list = []
        self.stopping = threading.Event()

    def start_one(self):
        process = spawn.Process(target=self.target, args=(self.options, self.listener, self.reports),
                                name="textrnn-serve-worker")
        process.start()
        return process

    def start(self) -> list[str]:
        """Start every worker and wait until each has loaded the model; their engine descriptions."""
        self.processes = [self.start_one() for _ in range(self.count)]
        engines = []
        while len(engines) < self.count:
            kind, pid, detail = self.next_report(until=lambda: self.stopping.is_set())
            if kind == "failed":
                raise TextRNNError(f"a worker (pid {pid}) could not start: {detail}")
            if kind == "stopped":
                return engines
            engines.append(detail)
        return engines

    def next_report(self, until) -> tuple:
        """The next worker's report; a worker that exits before reporting is a failure."""
        while True:
            try:
                return self.reports.get(timeout=0.5)
            except queue.Empty:
                pass
            if until():
                return ("stopped", None, "")
            for process in self.processes:
                if process.exitcode is not None:
                    try:  # its report may still be on its way
                        return self.reports.get(timeout=1)
                    except queue.Empty:
                        return ("failed", process.pid, f"it exited with status {process.exitcode}")

    def watch(self) -> None:
        """Until asked to stop: replace a worker that exits (it failed while serving); stop if its replacement
        cannot start."""
        while not self.stopping.wait(0.5):
            for index, process in enumerate(self.processes):
                if process.exitcode is not None and not self.stopping.is_set():
                    print(f"textrnn serve: worker {process.pid} exited with status {process.exitcode}; starting "
                          "another", file=sys.stderr, flush=True)
                    self.processes[index] = self.start_one()
            while not self.reports.empty():
                kind, pid, detail = self.reports.get_nowait()
                if kind == "failed":  # it loaded before: whatever broke will break every new one too
                    raise TextRNNError(f"a new worker (pid {pid}) could not start: {detail}")

    def stop(self) -> None:
        """SIGTERM to every worker (each finishes its requests in flight), then a kill for one that hangs."""
        self.stopping.set()
        for process in self.processes:
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(STOP_TIMEOUT_S)
            if process.exitcode is None:
                process.kill()
                process.join()
        self.reports.close()


def serve_workers(target, options, listener: socket.socket, count: int, announce) -> None:
    """Run `count` processes of target(options, listener, reports) on `listener` until SIGINT or SIGTERM; each
    puts ("ready", pid, what it runs) or ("failed", pid, why) on `reports`; announce([what each runs]) once all
    are ready."""
    metrics_dir = tempfile.mkdtemp(prefix="textrnn-serve-metrics-")
    os.environ[MULTIPROC_DIR] = metrics_dir  # read by prometheus-client as it is imported, in each worker
    workers = Workers(target, options, listener, count)
    previous = {sig: signal.signal(sig, lambda *_: workers.stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        engines = workers.start()
        if not workers.stopping.is_set():
            announce(engines)
            workers.watch()
    finally:
        workers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.environ.pop(MULTIPROC_DIR, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
