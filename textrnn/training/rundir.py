"""A run's directory: what a training run writes, how it is replaced, checkpointed, stopped and resumed.

train.py decides when; this module holds the rules: an earlier run is replaced only with --force and
only once every input has been read, each file is written whole (fileio.atomic_write), Ctrl-C stops
between steps with a checkpoint saved, and --resume finds that checkpoint again.
"""

import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from ..errors import ConfigError, TextRNNError
from ..figures import plot_training_curves
from ..fileio import atomic_write
from .checkpoints import PRETRAIN_STATE_FILE, STATE_FILE
from .config import REPORTING, TrainConfig, flag_name

RUN_FILES = ("config.json", "model.safetensors", "tokenizer.json", "train_config.json", "metrics.jsonl",
             "pretrain_metrics.json", "pretrain_curve.png",
             "training_curves.png", "eval_report.json", "eval_report.md", "confusion_matrix.png", "roc_curve.png",
             "per_label.png", "reliability.png", "README.md",
             "errors.jsonl", "tensorboard", "last")


def check_output(output: Path, force: bool) -> list[Path]:
    """The files of an earlier run in `output`: an error unless --force, else the files to replace."""
    taken = [output / name for name in RUN_FILES if (output / name).exists()]
    if taken and not force:
        raise TextRNNError(f"{output} already holds a run ({', '.join(path.name for path in taken[:3])}, ...); "
                           "pass --force to replace it, or --resume to continue it")
    return taken


def clear_output(output: Path, taken: list[Path]) -> None:
    for path in taken:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()  # a link goes, not its target
    output.mkdir(parents=True, exist_ok=True)


def check_output_place(output: Path, dataset: str | None) -> None:
    """A run directory may not be, or lie inside, the data set's folder: its JSON files would join the data, which
    would then no longer load. Nor may its last/ be a link: checkpoints would be written wherever it points."""
    if dataset and Path(dataset).expanduser().is_dir():
        data = Path(dataset).expanduser().resolve()
        if output.resolve() == data or data in output.resolve().parents:
            raise ConfigError(f"--output {output} is inside the data set's folder {dataset}: the run's files would "
                              "mix with the data; give a directory outside it (runs/NAME, say)")
    if (output / "last").is_symlink():
        raise TextRNNError(f"{output / 'last'} is a symbolic link: textrnn writes checkpoints only into a real "
                           "directory of the run; remove the link")


class RunLock:
    """One process at a time writes a run directory: a second `textrnn train` on the same --output is refused,
    naming the first one's process, instead of mixing two runs' files. The lock (flock on OUTPUT/.textrnn.lock)
    ends with the process, however it ends; the file is removed when the run does."""

    FILE = ".textrnn.lock"

    def __init__(self, output: Path, enabled: bool = True):
        self.output, self.enabled, self.handle, self.made_output = output, enabled, None, False

    def __enter__(self):
        if not self.enabled or fcntl is None:  # no flock on Windows: no lock
            return self
        self.made_output = not self.output.exists()
        self.output.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.output / self.FILE, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise TextRNNError(f"{self.output} is being written by another textrnn run (process {holder}); wait "
                               "for it to end, or give another --output") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        return self

    def __exit__(self, *exc_info):
        if self.handle is None:
            return
        (self.output / self.FILE).unlink(missing_ok=True)
        self.handle.close()  # closing releases the lock
        if self.made_output and not any(self.output.iterdir()):
            self.output.rmdir()  # a run that failed before writing anything leaves nothing behind


def find_resume_dir(resume: str, output: Path) -> Path:
    """--resume with no path means this run's last/; a path may be a run directory or its last/. A run stopped
    during pre-training has only the pre-training state there."""
    candidate = output / "last" if resume == "auto" else Path(resume)
    for directory in (candidate, candidate / "last"):
        if directory.is_symlink():
            raise TextRNNError(f"cannot resume from {directory}: it is a symbolic link, and textrnn writes "
                               "checkpoints only into a real directory of the run")
        if any((directory / name).is_file() for name in (STATE_FILE, PRETRAIN_STATE_FILE)):
            return directory
    raise TextRNNError(f"cannot resume: no {STATE_FILE} in {candidate} or {candidate / 'last'}")


# What a resumed run may change: where and how it runs, and how long it may go on. The rest would make it
# another run than the one its checkpoint belongs to.
# How a run reports (REPORTING: --quiet, --report-to, ...) is not what it trains: it may change too.
RESUME_CHANGEABLE = ("epochs", "patience", "device", "amp", "progress", "checkpoint_every", *REPORTING)


def resumed_config(saved: TrainConfig, asked: TrainConfig, given: set[str], output: Path, log) -> TrainConfig:
    """The settings of a run being resumed: its saved ones, with those in RESUME_CHANGEABLE that the user gave.
    Any other setting given with a value other than the saved one is refused, never ignored."""
    if "force" in given:
        raise ConfigError("--force starts a new run in place of an earlier one; it cannot be combined with --resume")
    if "output" in given and Path(asked.output).resolve() != output.resolve():
        raise ConfigError(f"--output {asked.output} is not the run being resumed ({output})")
    changed = [name for name in sorted(given - {"resume", "output"}) if getattr(asked, name) != getattr(saved, name)]
    refused = [name for name in changed if name not in RESUME_CHANGEABLE]
    if refused:
        settings = ", ".join(f"{flag_name(name)} (saved {getattr(saved, name)!r}, given {getattr(asked, name)!r})"
                             for name in refused)
        raise ConfigError(f"--resume continues a run with its saved settings, and {settings} cannot change; only "
                          f"{', '.join(flag_name(name) for name in RESUME_CHANGEABLE)} may. Start a new run (another "
                          "--output, or --force) to change the others")
    if changed:
        log("resume: " + ", ".join(f"{name} {getattr(saved, name)!r} -> {getattr(asked, name)!r}" for name in changed))
    return replace(saved, resume=asked.resume, output=str(output), **{name: getattr(asked, name) for name in changed})


def check_epochs(state: dict, epochs: int) -> None:
    """A resumed run cannot end before the epochs it has already trained."""
    done = state["epoch"] + (1 if state.get("step") else 0)  # a checkpoint within an epoch has begun that epoch
    if epochs < done:
        raise ConfigError(f"--epochs {epochs}: the run being resumed has already trained "
                          f"{state['epoch']} epoch{'' if state['epoch'] == 1 else 's'}"
                          f"{' and part of the next' if state.get('step') else ''}; "
                          f"give {done} or more")


def stopped_early(state: dict, patience: int) -> bool:
    """Whether a run's checkpoint is from the end of an epoch after which early stopping ended it."""
    return bool(state["epoch"]) and not state.get("step") and state["epoch"] - state["best_epoch"] >= patience


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM during training: finish the current step, save a checkpoint, stop.

    Stopping only between steps keeps the saved state whole: a KeyboardInterrupt raised midway through
    a step could leave the optimizer stepped and the schedule not. A second Ctrl-C stops at once. Off
    under torchrun (the ranks would stop at different steps) and outside the main thread (no signals).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self.previous = {}

    def __enter__(self):
        if self.enabled:
            self.previous = {number: signal.signal(number, self.handle) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc_info):
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def handle(self, number, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(number).name}: stopping after this step and saving a checkpoint "
              "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)


class TrainingStopped(Exception):
    """Raised between steps after Ctrl-C, once the checkpoint is saved."""


def write_history(output: Path, history: list[dict]) -> None:
    """metrics.jsonl, rewritten whole from the saved history: a killed run never leaves a row twice."""
    atomic_write(output / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history).encode())
    if history:
        plot_training_curves(history, output / "training_curves.png")
