"""Fine-tuning: the epoch loop over labelled batches, early stopping, checkpoints and Ctrl-C.

One log line per epoch, fixed width (logs.EpochLine; texts with several labels get their loss per label):

    | epoch   2 |   19.4s | train loss 0.3127 acc 87.01% | valid loss 0.3598 acc 84.52% f1 84.49% | lr 1.50e-03 | best

Within an epoch, a progress bar on a terminal or a plain line every --progress-every seconds elsewhere; with
--report-to tensorboard, the epoch's numbers and every --log-every steps' training loss in OUTPUT/tensorboard.

The task (tasks.py) gives the loss, the correct count and the validation metrics; everything else here is the same
for every label shape. The best epoch by the validation metric is saved to OUTPUT, every epoch to OUTPUT/last.
"""

import math
import time
from pathlib import Path

import torch

from ..batching import EncodedSplit, make_loader
from ..errors import ConfigError, NonFiniteLossError
from ..model import RNNClassifier
from .checkpoints import STATE_FILE, Checkpoints, describe_position
from .config import TrainConfig
from .logs import EpochLine, Progress, Reporter, StepWindow, open_reporter, plural, progress_mode
from .optim import WeightAverage, amp_dtype, averaged, make_optimisation, sparse_bag, train_step
from .rundir import StopRequest, TrainingStopped, check_epochs, stopped_early, write_history


class FineTuning:
    """A classifier, its optimiser and its resumable state (epoch, best epoch, history), trained on labelled texts."""

    def __init__(self, model: RNNClassifier, task, train_set: EncodedSplit, valid_set: EncodedSplit,
                 config: TrainConfig, device: torch.device, world, output: Path):
        self.model, self.task, self.config, self.device, self.world, self.output = (model, task, config, device,
                                                                                     world, output)
        pin = device.type == "cuda"
        self.train_loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed,
                                        num_replicas=world.world_size, rank=world.rank, pin_memory=pin)
        self.valid_loader = make_loader(valid_set, config.batch_size * 4, shuffle=False, pin_memory=pin)
        self.loss = task.loss(config, train_set.labels, device)
        if config.adversarial and world.world_size > 1:
            raise ConfigError("--adversarial runs two forward passes a step, which DistributedDataParallel does not "
                              "take; train it in one process")
        # the bag of n-grams, when there is one, gets a sparse gradient and a lazy update of the rows a batch reads
        self.optimisation = make_optimisation(model.parameters(), config.lr, config.weight_decay,
                                              len(self.train_loader) * config.epochs, config.warmup, config.amp,
                                              device, sparse=sparse_bag(model, world.sparse_gradients))
        self.average = WeightAverage(model, config.average_decay) if config.average_decay else None
        self.checkpoints = Checkpoints(output, model, self.optimisation, self.average, config.checkpoint_every,
                                       enabled=world.is_main)
        self.state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "history": []}
        self.progress_mode = progress_mode(config, world.is_main)
        self.show_progress = self.progress_mode == "bar"
        self.line = EpochLine(task)
        self.reporter = Reporter()  # TensorBoard's, from fit() on (--report-to)

    def resume(self, directory: Path, saved_epochs: int) -> bool:
        """Continue from the checkpoint in `directory`, if it holds one of fine-tuning; whether it did."""
        if not (directory / STATE_FILE).is_file():
            return False
        self.state = self.checkpoints.load_state(directory)
        check_epochs(self.state, self.config.epochs)
        if self.config.epochs != saved_epochs:  # the schedule now spans the new number of epochs
            self.optimisation.follow_schedule()
        self.checkpoints.position = describe_position(self.state)
        self.world.log(f"resumed from {directory} {self.checkpoints.position}")
        if self.world.is_main:
            write_history(self.output, self.state["history"])  # as saved with the state, even if the killed run wrote more
        return True

    def fit(self, on_epoch=None) -> bool:
        """Train until the last epoch, early stopping or Ctrl-C; whether Ctrl-C (or SIGTERM) stopped it.
        on_epoch(epoch, row): called on the main rank after each epoch's row is written."""
        trained, epochs = self.world.wrap(self.model, self.device), self.epochs_left()
        if self.line.legend() and epochs:
            self.world.log(self.line.legend())
        # a resumed run's TensorBoard steps start after its checkpoint's: what the killed run wrote past it goes
        done = self.global_step()
        self.reporter = open_reporter(self.config, self.output, self.world.is_main, done + 1 if done else None)
        with StopRequest(enabled=self.world.world_size == 1) as stop:
            try:
                for epoch in epochs:
                    self.run_epoch(trained, epoch, stop, on_epoch)
                    if epoch - self.state["best_epoch"] >= self.config.patience:
                        self.world.log(f"early stop: no better validation {self.config.metric} for "
                                       f"{plural(self.config.patience, 'epoch')}")
                        break
                    if stop.requested:
                        raise TrainingStopped
            except TrainingStopped:
                warn = getattr(self.world, "warn", self.world.log)  # it matters even with --quiet
                warn(f"stopped {self.checkpoints.position}; the checkpoint is in {self.output / 'last'}. "
                     f"Continue with:\n    textrnn train --resume --output {self.output}")
                return True
            except NonFiniteLossError as error:
                raise NonFiniteLossError(f"{error}; training stopped and {self.checkpoints.describe_last()}. "
                                         "A lower --lr or --clip may help") from None
            finally:
                self.reporter.close()
        return False

    def global_step(self) -> int:
        """The training steps taken so far, over every epoch: TensorBoard's x axis for the step-wise loss."""
        return self.state["epoch"] * len(self.train_loader) + self.state.get("step", 0)

    def epochs_left(self) -> range:
        state, config = self.state, self.config
        if stopped_early(state, config.patience):  # a resumed run that had ended early stays ended
            self.world.log(f"early stop: the run had stopped after epoch {state['epoch']}, "
                           f"{plural(config.patience, 'epoch')} without a better validation {config.metric}; a "
                           "larger --patience trains on")
            return range(0)
        return range(state["epoch"] + 1, config.epochs + 1)

    def run_epoch(self, trained: torch.nn.Module, epoch: int, stop: StopRequest, on_epoch) -> None:
        """Train one epoch, validate, save, log, and tell on_epoch."""
        started, state = time.time(), self.state
        train_loss, train_accuracy = self.train_epoch(trained, epoch, stop)
        with averaged(self.average):
            valid = self.validate()
        improved = valid[self.config.metric] > state["best_metric"]
        if improved:
            state.update(best_metric=valid[self.config.metric], best_epoch=epoch)
        row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
               "valid_loss": valid["loss"], "valid_accuracy": valid["accuracy"], "valid_macro_f1": valid["macro_f1"],
               "lr": self.optimisation.lr, "seconds": time.time() - started,
               "improved": improved}
        state["history"].append(row)
        state["epoch"] = epoch
        self.checkpoints.save_epoch(state, improved)
        if self.world.is_main:
            write_history(self.output, state["history"])
        self.world.log(self.line.format(row, improved))
        self.report_epoch(row)
        if on_epoch and self.world.is_main:
            on_epoch(epoch, row)

    def report_epoch(self, row: dict) -> None:
        """The epoch's numbers for TensorBoard, its losses as the epoch line shows them."""
        line, accuracy = self.line, self.line.accuracy_tag
        self.reporter.scalars({"loss/train": line.loss(row["train_loss"]),
                               "loss/validation": line.loss(row["valid_loss"]),
                               f"{accuracy}/train": row["train_accuracy"],
                               f"{accuracy}/validation": row["valid_accuracy"],
                               "macro_f1/validation": row["valid_macro_f1"], "learning_rate/epoch": row["lr"]},
                              row["epoch"])
        self.reporter.flush()

    def train_epoch(self, trained: torch.nn.Module, epoch: int, stop: StopRequest) -> tuple[float, float]:
        """One pass over the training batches, from where a checkpoint within this epoch left off (the state's step
        and running totals). Returns (loss, accuracy), summed over every rank."""
        config, device, loader = self.config, self.device, self.train_loader
        trained.train()
        done = self.state.pop("step", 0)
        # loss sum, correct, examples; stays on the device: no syncs
        totals = torch.tensor(self.state.pop("epoch_totals", None) or [0.0, 0.0, 0.0], dtype=torch.float64,
                              device=device)
        loader.batch_sampler.set_epoch(epoch, skip=done)
        progress = Progress(self.progress_mode, f"epoch {epoch}", len(loader), done, config.progress_every,
                            self.world.log, self.line.loss_name, world_size=self.world.world_size)
        window = StepWindow(*(totals[[0, 2]].tolist() if self.reporter.enabled else (0.0, 0.0)))

        def running_loss() -> float:
            return self.line.loss(totals[0].item() / max(totals[2].item(), 1))

        for step, batch in enumerate(loader, start=done + 1):
            ids = batch["ids"].to(device, non_blocking=True)  # [batch, seq]
            labels = batch["labels"].to(device, non_blocking=True)  # [batch], or [batch, labels] (multi-label)
            logits, loss, objective = self.batch_loss(trained, ids, batch["lengths"], labels)
            train_step(objective, self.model, self.optimisation, config.clip,
                       {"epoch": epoch, "step": step, "steps": len(loader), "lengths": batch["lengths"]}, self.average)
            totals[0] += loss.detach() * len(labels)
            totals[1] += self.task.count_correct(logits, labels)
            totals[2] += len(labels)  # a Python number: no host-to-device copy each step
            progress.update(step, len(labels), running_loss)
            self.report_step(epoch, step, totals, window)
            self.after_step(step, totals, stop)
        progress.close()
        self.optimisation.watch.check()
        self.world.all_reduce(totals)
        loss_sum, correct, count = totals.tolist()
        return loss_sum / count, correct / count

    def batch_loss(self, trained: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor,
                   labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, loss, what to minimise): the batch's loss, and with --adversarial that loss plus the loss on
        its embeddings moved along the loss's gradient by --adversarial (L2 norm per text; Miyato et al. 2017)."""
        if not self.config.adversarial:
            logits = self.forward(trained, ids, lengths)
            loss = self.loss(logits, labels)
            return logits, loss, loss
        # the moved pass drops the same words and units as the first, so that it meets the step made for it
        draws = (torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None)
        embedded = {}
        with self.model.embedding.register_forward_hook(lambda module, inputs, output: embedded.update(x=output)):
            logits = self.forward(trained, ids, lengths)
        loss = self.loss(logits, labels)
        (gradient,) = torch.autograd.grad(loss, embedded["x"], retain_graph=True)  # [batch, seq, emb]
        norm = gradient.float().square().sum(dim=(1, 2), keepdim=True).sqrt().clamp(min=1e-12)
        step = (self.config.adversarial * gradient.float() / norm).to(gradient.dtype).detach()
        torch.set_rng_state(draws[0])
        if draws[1] is not None:
            torch.cuda.set_rng_state(draws[1], self.device)
        with self.model.embedding.register_forward_hook(lambda module, inputs, output: output + step):
            moved_loss = self.loss(self.forward(trained, ids, lengths), labels)
        return logits, loss, loss + moved_loss

    def forward(self, trained: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=amp_dtype(self.device), enabled=self.config.amp):
            return trained(ids, lengths)  # [batch, classes]

    def report_step(self, epoch: int, step: int, totals: torch.Tensor, window: StepWindow) -> None:
        """Every --log-every steps, the mean training loss since the last report (this rank's), for TensorBoard."""
        at = (epoch - 1) * len(self.train_loader) + step
        if not self.reporter.enabled or at % self.reporter.every:
            return
        loss_sum, count = totals[[0, 2]].tolist()
        self.reporter.scalars({"loss/train_steps": self.line.loss(window.mean(loss_sum, count)),
                               "learning_rate/steps": self.optimisation.lr}, at)

    def after_step(self, step: int, totals: torch.Tensor, stop: StopRequest) -> None:
        """A checkpoint when one is due or Ctrl-C asked for it; then Ctrl-C stops the run."""
        if stop.requested or self.checkpoints.due():
            self.checkpoints.save_state({**self.state, "step": step, "epoch_totals": totals.tolist()})
        if stop.requested:
            raise TrainingStopped

    @torch.inference_mode()
    def validate(self) -> dict:
        """Loss, accuracy and macro-F1 on the validation batches, as the task measures them."""
        self.model.eval()
        loss, logits, targets = 0.0, [], []
        for batch in self.valid_loader:
            labels = batch["labels"].to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=amp_dtype(self.device), enabled=self.config.amp):
                batch_logits = self.model(batch["ids"].to(self.device, non_blocking=True), batch["lengths"]).float()
            loss += self.loss(batch_logits, labels, reduction="sum")
            logits.append(batch_logits)
            targets.append(labels)
        targets = torch.cat(targets).cpu().numpy()
        return {"loss": float(loss) / len(targets), **self.task.validation_metrics(torch.cat(logits).cpu(), targets)}
