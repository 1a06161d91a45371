"""The server's settings (ServeSettings) and the checks of `textrnn serve`'s options: a mistake is a ConfigError
naming the flag (or the field), raised before anything slow happens."""

import math
from dataclasses import dataclass

from ..errors import ConfigError
from ..inference import ENGINES


@dataclass
class ServeSettings:
    batching: bool = True
    max_batch_size: int = 32  # texts per forward pass
    batch_wait_ms: float = 2.0  # how long a batch may wait for more requests
    max_body_bytes: int = 1_000_000
    max_inputs: int = 256  # texts per request
    # the connection limits, for Python callers and tests (no flags): a client that stalls is cut off, not waited for
    max_connections: int = 512  # open connections, and requests in flight; past it a request gets a 503 at once
    header_timeout_s: float = 10.0  # from a connection's start, or a request's first byte, to its last header
    body_timeout_s: float = 30.0  # the longest pause between two pieces of a request's body
    keep_alive_s: float = 5.0  # an idle connection between two requests is closed after this
    max_header_bytes: int = 65_536  # a request's line and headers together

    def check(self) -> None:
        """A ConfigError naming the flag (or the field) of the first setting that cannot work: a NaN or infinite
        wait would make every batch wait forever while /health still answers."""
        if not isinstance(self.batching, bool):
            raise ConfigError(f"ServeSettings.batching must be True or False, got {self.batching!r}")
        for name, (low, high) in WHOLE_NUMBER_LIMITS.items():
            check_whole_number(setting_name(name), getattr(self, name), low, high)
        for name, (low, high) in NUMBER_LIMITS.items():
            check_number(setting_name(name), getattr(self, name), low, high)


# each setting's bounds: far beyond what a server needs, close enough to catch a typo or a unit mistake
WHOLE_NUMBER_LIMITS = {"max_batch_size": (1, 4096), "max_body_bytes": (1, 1_000_000_000), "max_inputs": (1, 100_000),
                       "max_connections": (1, 100_000), "max_header_bytes": (1024, 1_048_576)}
NUMBER_LIMITS = {"batch_wait_ms": (0, 1000), "header_timeout_s": (0.01, 3600), "body_timeout_s": (0.01, 3600),
                 "keep_alive_s": (0.01, 3600)}
FLAGS = {"max_batch_size": "--max-batch-size", "batch_wait_ms": "--batch-wait-ms", "max_body_bytes": "--max-body-bytes",
         "max_inputs": "--max-inputs"}
MAX_THREADS = 256
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # set for --workers N: prometheus-client's multiprocess mode (workers.py)
MAX_WORKERS = 64  # processes, each with its own copy of the model



def setting_name(name: str) -> str:
    return FLAGS.get(name, f"ServeSettings.{name}")


def check_whole_number(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")


def check_number(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"{name} must be a finite number from {low:g} to {high:g}, got {value!r}")


def check_serve_options(host, port, threads: int, settings: ServeSettings, engine: str = "auto",
                        workers: int = 1) -> None:
    """A ConfigError naming the flag, before anything slow happens."""
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"--host must be an address or a host name (127.0.0.1, 0.0.0.0 for every IPv4 interface, "
                          f":: for IPv6), got {host!r}")
    check_whole_number("--port", port, 0, 65535)  # 0: a free port chosen by the system, announced
    check_whole_number("--threads", threads, 1, MAX_THREADS)
    check_whole_number("--workers", workers, 1, MAX_WORKERS)
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    settings.check()
