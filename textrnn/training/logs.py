"""What a training run tells its user while it runs: the epoch lines, progress, --quiet, and TensorBoard.

- `EpochLine`: the line logged after each epoch (the single-label layout is fixed-width, and tests compare it);
- `RunLog` and `LoggedWorld`: the log on the main rank, flushed line by line (a pipe or a file sees each line as
  it is printed); --quiet drops every log line, and lines that are warnings go to stderr instead;
- `Progress`: within an epoch, tqdm's bar on a terminal, else a plain line every --progress-every seconds;
- `Reporter`: --report-to tensorboard, scalars in OUTPUT/tensorboard/ (pre-training's in OUTPUT/tensorboard/pretrain).
"""

import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError
from .distributed import Distributed

TENSORBOARD_DIR = "tensorboard"
PRETRAIN_TENSORBOARD_DIR = "pretrain"  # inside TENSORBOARD_DIR: a run of its own in TensorBoard's list
BAR_POSTFIX_EVERY = 20  # steps between the bar's running-loss updates (each reads the loss off the device)


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 epoch', '3 epochs', '1,200 texts'."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def duration(seconds: float) -> str:
    """'45s', '6m 05s', '2h 03m'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# ----------------------------------------------------------------------------------------------- the epoch line


class EpochLine:
    """The line logged after each epoch: the run's head and tail around what its task measures (tasks.py's
    epoch_metrics), e.g. for one label per text, fixed-width (tests compare it):

        | epoch   2 |   19.4s | train loss 0.3127 acc 87.01% | valid loss 0.3598 acc 84.52% f1 84.49% | lr 1.50e-03 |

    and for several labels per text, the loss per label and the validation macro-F1 first:

        | epoch   2 |   19.4s | train loss/label 0.1157 exact 12.40% | valid macro-F1 41.07% loss/label 0.1210 exact
        10.20% | lr 1.50e-03 |
    """

    def __init__(self, task):
        self.task = task
        self.loss_name, self.accuracy_tag = task.loss_name, task.accuracy_name

    def loss(self, loss_per_text: float) -> float:
        """The loss as the log shows it: the task's (per label, for several labels per text)."""
        return self.task.loss_per_output(loss_per_text)

    def format(self, row: dict, improved: bool) -> str:
        return (f"| epoch {row['epoch']:3d} | {row['seconds']:6.1f}s | {self.task.epoch_metrics(row)} | lr "
                f"{row['lr']:.2e} |{' best' if improved else ''}")

    def legend(self) -> str | None:
        """A line before the first epoch's that says what the line's columns are, where they need it."""
        return self.task.epoch_legend()


# ----------------------------------------------------------------------------------------------- the log, --quiet


class RunLog:
    """print for the run's log lines: on the main rank only, flushed at once. quiet: no log line at all on stdout;
    a line that is a warning ('warning: ...', or one given to warn) goes to stderr instead."""

    def __init__(self, enabled: bool = True, quiet: bool = False):
        self.enabled, self.quiet = enabled, quiet

    def __call__(self, *args, **kwargs) -> None:
        if not self.enabled:
            return
        if self.quiet:
            text = kwargs.get("sep", " ").join(map(str, args))
            if text.lstrip().lower().startswith("warning:"):
                self.warn(text)
            return
        print(*args, **{"flush": True, **kwargs})

    def warn(self, message: str) -> None:
        """A line that matters however quiet the run: on stderr under --quiet, else in the log."""
        if not self.enabled:
            return
        print(message, file=sys.stderr if self.quiet else sys.stdout, flush=True)


class LoggedWorld(Distributed):
    """The process's place in the job (distributed.Distributed), with log() as the run's RunLog."""

    def __init__(self, world: Distributed, quiet: bool = False):
        super().__init__(world.rank, world.local_rank, world.world_size)
        self.run_log = RunLog(enabled=world.is_main, quiet=quiet)

    def log(self, *args, **kwargs) -> None:
        self.run_log(*args, **kwargs)

    def warn(self, message: str) -> None:
        self.run_log.warn(message)


# ----------------------------------------------------------------------------------------------- progress


def progress_mode(config, is_main: bool, stream=None) -> str | None:
    """'bar' on a terminal, 'lines' where stderr is not one (a file, a pipe, a job's log), or None: --no-progress,
    --quiet, --progress-every 0, or a rank other than the main one."""
    if not (config.progress and is_main) or config.quiet:
        return None
    if (stream or sys.stderr).isatty():
        return "bar"
    return "lines" if config.progress_every > 0 else None


class Progress:
    """One epoch's progress: tqdm's bar (`mode` 'bar'), a plain line every `every` seconds into `log` ('lines'):

        epoch 3: step 1,200/4,688 (26%), 410 texts/s, loss 0.3127, 8m 30s left in the epoch

    or nothing (None). `done`: the steps a resumed epoch had already taken. `tokens`: the bar counts tokens (as
    pre-training's does) rather than steps, and the line gives tokens/s too."""

    def __init__(self, mode: str | None, what: str, steps: int, done: int = 0, every: float = 30.0, log=print,
                 loss_name: str = "loss", tokens: bool = False, world_size: int = 1, clock=time.monotonic):
        self.mode, self.what, self.steps, self.done, self.every, self.log = mode, what, steps, done, every, log
        self.loss_name, self.tokens, self.world_size, self.clock = loss_name, tokens, world_size, clock
        self.started = self.last = clock()
        self.texts = self.token_count = 0
        self.bar = None
        if mode == "bar":
            options = {"unit": "tok", "unit_scale": True} if tokens else {"total": steps, "initial": done}
            self.bar = tqdm(desc=what, leave=False, dynamic_ncols=True, **options)

    def update(self, step: int, texts: int, loss, tokens: int = 0) -> None:
        """After `step` (counted from 1), which read `texts` texts of `tokens` tokens; loss(): the running loss,
        called only when it is shown (it may read the device)."""
        self.texts, self.token_count = self.texts + texts, self.token_count + tokens
        if self.bar is not None:
            self.bar.update(tokens if self.tokens else 1)
            if not self.tokens and step % BAR_POSTFIX_EVERY == 0:
                self.bar.set_postfix({self.loss_name: f"{loss():.4f}"})
        elif self.mode == "lines" and self.clock() - self.last >= self.every and step < self.steps:
            self.last = self.clock()
            self.log(self.line(step, loss()))

    def line(self, step: int, loss: float) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = f"{self.texts * self.world_size / elapsed:,.0f} texts/s"
        if self.tokens:
            rate += f", {self.token_count * self.world_size / elapsed:,.0f} tokens/s"
        left = elapsed / max(step - self.done, 1) * (self.steps - step)
        return (f"{self.what}: step {step:,}/{self.steps:,} ({step / self.steps:.0%}), {rate}, {self.loss_name} "
                f"{loss:.4f}, {duration(left)} left in the epoch")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------------------------- TensorBoard


def check_report_to(report_to: str) -> None:
    """--report-to tensorboard needs the tensorboard package: one line saying how to get it, before any work."""
    if report_to != "tensorboard":
        return
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("--report-to tensorboard needs the tensorboard package, which is not installed: pip "
                          "install 'textrnn[tensorboard]' (or pip install tensorboard)") from None


class Reporter:
    """Scalars for TensorBoard (torch.utils.tensorboard's SummaryWriter) in `directory`; a reporter that is not
    enabled does nothing. purge_step: where a resumed run starts again, so that what the killed run wrote after
    its checkpoint is dropped rather than drawn twice."""

    def __init__(self, directory: Path | None = None, purge_step: int | None = None, every: int = 50):
        self.every, self.writer = every, None
        if directory is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(directory), purge_step=purge_step)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, values: dict, step: int) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def open_reporter(config, output: Path, enabled: bool, purge_step: int | None = None,
                  pretraining: bool = False) -> Reporter:
    """The run's Reporter: TensorBoard's when --report-to tensorboard on the main rank, else one that does nothing."""
    if not enabled or config.report_to != "tensorboard":
        return Reporter(every=config.log_every)
    directory = output / TENSORBOARD_DIR / (PRETRAIN_TENSORBOARD_DIR if pretraining else "")
    return Reporter(directory, purge_step=purge_step or None, every=config.log_every)


class StepWindow:
    """The training loss over the last `every` steps, for the Reporter: sums of loss and examples at the last
    report, read off the device only when a report is due."""

    def __init__(self, loss_sum: float = 0.0, count: float = 0.0):
        self.loss_sum, self.count = loss_sum, count

    def mean(self, loss_sum: float, count: float) -> float:
        mean = (loss_sum - self.loss_sum) / max(count - self.count, 1e-12)
        self.loss_sum, self.count = loss_sum, count
        return mean
