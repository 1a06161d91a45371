"""Training checkpoints: everything --resume needs, in one safetensors file written whole.

OUTPUT/last/training_state.safetensors (pretrain_state.safetensors for pre-training) holds the weights, the
optimiser's tensors, the weight average and the random state, with the rest of the trainer's state (epoch,
position within it, history) as JSON in the file's metadata: one file, so that it is written and replaced in one
piece. Nothing is pickled. `Checkpoints` decides what a run saves and when.
"""

import json
import time
from pathlib import Path

import torch
from safetensors.torch import save as save_safetensors_bytes

from ..checkpoint import read_safetensors, write_weights
from ..errors import ModelDirError
from ..fileio import atomic_write
from .optim import Optimisation, WeightAverage, averaged

STATE_FILE = "training_state.safetensors"
PRETRAIN_STATE_FILE = "pretrain_state.safetensors"  # the same, for language-model pre-training (pretrain.py)



# Where each optimiser's state goes in the file: AdamW's as it always did, the bag's LazyAdamW (optim.sparse_bag)
# beside it. (tensor prefix, param groups metadata key, scheduler metadata key), in Optimisation.optimizers' order.
OPTIMIZER_KEYS = (("optimizer", "optimizer_param_groups", "scheduler"),
                  ("sparse_optimizer", "sparse_optimizer_param_groups", "sparse_scheduler"))


def save_training_state(directory, model, optimizer, scheduler, scaler, trainer_state: dict, average=None,
                        state_file: str = STATE_FILE) -> None:
    """optimizer, scheduler: one of each, or Optimisation's lists (AdamW's first, then the bag's)."""
    optimizers, schedulers = as_list(optimizer), as_list(scheduler)
    tensors = {f"model.{name}": t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    if average is not None:  # the weight average (optim.WeightAverage), when the run keeps one
        tensors.update(average.state_tensors())
    metadata = {"trainer_state": json.dumps(trainer_state), "scaler": json.dumps(scaler.state_dict())}
    for one, schedule, (prefix, groups_key, scheduler_key) in zip(optimizers, schedulers, OPTIMIZER_KEYS):
        optimizer_state = one.state_dict()
        for param_id, state in optimizer_state["state"].items():
            for key, value in state.items():
                tensors[f"{prefix}.{param_id}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        metadata[groups_key] = json.dumps(optimizer_state["param_groups"])
        metadata[scheduler_key] = json.dumps(schedule.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    atomic_write(Path(directory) / state_file, save_safetensors_bytes(tensors, metadata=metadata))


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_training_state(directory, model, optimizer, scheduler, scaler, average=None,
                        state_file: str = STATE_FILE) -> dict:
    """Restore what save_training_state wrote; returns the trainer state (epoch, history, ...)."""
    optimizers, schedulers = as_list(optimizer), as_list(scheduler)
    path = Path(directory) / state_file
    if not path.is_file():
        raise ModelDirError(f"cannot resume: no {state_file} in {directory}")
    tensors, metadata = read_safetensors(path)
    check_optimizers(path, metadata, len(optimizers))
    try:
        trainer_state = json.loads(metadata["trainer_state"])
        saved = [(json.loads(metadata[groups_key]), json.loads(metadata[scheduler_key]))
                 for _, groups_key, scheduler_key in OPTIMIZER_KEYS[:len(optimizers)]]
        scaler_state = json.loads(metadata["scaler"])
    except (KeyError, json.JSONDecodeError) as error:
        raise ModelDirError(f"{path}: damaged training state metadata: {error}") from None
    try:
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        for one, schedule, (param_groups, scheduler_state), (prefix, _, _) in zip(optimizers, schedulers, saved,
                                                                                   OPTIMIZER_KEYS):
            one.load_state_dict({"state": optimizer_tensors(tensors, prefix), "param_groups": param_groups})
            schedule.load_state_dict(scheduler_state)
        if scaler_state:
            scaler.load_state_dict(scaler_state)
        torch.set_rng_state(tensors["rng.torch"])
        if average is not None:
            average.load_state_tensors(tensors)
    except (KeyError, RuntimeError, ValueError) as error:
        raise ModelDirError(f"{path} does not fit this run's model and optimizer: {error}") from None
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return trainer_state


def optimizer_tensors(tensors: dict, prefix: str) -> dict:
    """{param_id: {key: tensor}} of the optimiser whose tensors are named `prefix`.{param_id}.{key}."""
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    return state


def check_optimizers(path: Path, metadata: dict, wanted: int) -> None:
    """A checkpoint whose bag of n-grams was updated densely (textrnn before the sparse bag, or a run on NCCL)
    cannot continue as a sparse one, nor the other way round: the optimisers' states are not the same objects."""
    saved_sparse, wanted_sparse = OPTIMIZER_KEYS[1][1] in metadata, wanted > 1
    if "optimizer_param_groups" not in metadata or saved_sparse == wanted_sparse:
        return  # the same shape (or damaged metadata, which the reading names)
    if saved_sparse:
        raise ModelDirError(f"cannot resume from {path}: its bag of n-grams was updated sparsely, which this run "
                            "cannot do (under torchrun on CUDA the bag stays dense); resume it in one process or on "
                            "the CPU, as it ran")
    raise ModelDirError(f"cannot resume from {path}: it was saved by a run that updated the bag of n-grams densely "
                        "(AdamW over the whole table: a textrnn before the sparse bag, or torchrun on CUDA), and this "
                        "one updates the rows a batch reads (SparseAdam). Resume it as it ran, with the textrnn "
                        "that started it, or start it again with --force")


class Checkpoints:
    """What a run saves, always whole: each file is written atomically, and only rank 0 writes.

    OUTPUT/last/training_state.safetensors holds everything --resume needs (weights, optimizer, schedule,
    random state, the position within the epoch and its running totals): it is saved at every epoch's
    end, every `every_seconds` within an epoch and when a stop is asked for. model.safetensors is replaced
    in OUTPUT when an epoch is the best so far and in OUTPUT/last after every epoch.
    """

    def __init__(self, output: Path, model, optimisation: Optimisation, average: WeightAverage | None,
                 every_seconds: float, enabled: bool, state_file: str = STATE_FILE):
        self.output, self.last, self.state_file = output, output / "last", state_file
        self.model, self.optimisation, self.average = model, optimisation, average
        self.watch, self.every_seconds, self.enabled = optimisation.watch, every_seconds, enabled
        self.saved_at = time.monotonic()
        self.position: str | None = None  # of the last saved state, for messages

    def due(self) -> bool:
        return self.enabled and self.every_seconds > 0 and time.monotonic() - self.saved_at >= self.every_seconds

    def save_state(self, state: dict) -> None:
        self.watch.check_weights(self.model)  # never save the state that follows a bad step
        if self.enabled:
            parts = self.optimisation
            save_training_state(self.last, self.model, parts.optimizers, parts.schedulers, parts.scaler, state,
                                average=self.average, state_file=self.state_file)
            self.position = describe_position(state)
        self.saved_at = time.monotonic()

    def load_state(self, directory: Path) -> dict:
        """The trainer state saved in `directory`, with the model, optimiser and average restored to it."""
        parts = self.optimisation
        return load_training_state(directory, self.model, parts.optimizers, parts.schedulers, parts.scaler,
                                   self.average, state_file=self.state_file)

    def save_epoch(self, state: dict, improved: bool) -> None:
        self.watch.check_weights(self.model)
        if self.enabled:
            with averaged(self.average):  # the saved models are the weights that were validated
                if improved:
                    write_weights(self.output, self.model)
                write_weights(self.last, self.model)
        self.save_state(state)

    def describe_last(self) -> str:
        if self.position is None:
            return "no checkpoint was saved before it"
        return f"the last good checkpoint ({self.position}) is kept in {self.last}"


def describe_position(state: dict) -> str:
    if state.get("step"):
        return f"in epoch {state['epoch'] + 1} after step {state['step']}"
    return f"after epoch {state['epoch']}"
