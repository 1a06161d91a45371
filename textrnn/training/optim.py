"""What fine-tuning, pre-training and the AMP benchmark share: the optimiser, its schedule, mixed precision,
the step, the weight average and the watch for NaN losses."""

import functools
import math
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ..errors import NonFiniteLossError
from ..model import ModelConfig, RNNClassifier


def make_optimizer(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over `params` (parameters, or parameter groups with their own "lr")."""
    # The fused kernel updates all parameters in one pass: on a 2-core CPU it is ~6x faster than the
    # default for-each AdamW, which matters because the embedding table is most of the parameters.
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # older torch builds have no fused kernel for this device
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


class LazyAdamW(torch.optim.SparseAdam):
    """SparseAdam for the bag of n-grams, whose gradient is sparse: only the rows a batch touches are read and
    written (moments and weights), with AdamW's decoupled weight decay applied to those rows as they are updated.

    Why decay the touched rows only: it costs nothing beyond the rows the step already writes, and a touched row
    gets AdamW's decoupled decay, then the Adam step, as the dense run did (its first update is AdamW's, but for
    where SparseAdam adds eps). What it gives up: dense AdamW also shrinks every row the batch did not touch, by
    (1 - lr * weight_decay) each step, about exp(-weight_decay * sum of lr) over a run (~0.9 at the defaults over
    ten IMDB epochs); here a row that few batches read keeps more of its small random start. Those rows are the
    rarely seen n-grams, whose vectors carry little either way, and the lazy moments (stale rows do not coast on
    their momentum) are the larger change of the two: the lead measures accuracy on real data.
    """

    def __init__(self, params, lr: float, weight_decay: float):
        super().__init__(params, lr=lr)
        for group in self.param_groups:
            group["weight_decay"] = weight_decay  # saved with the param groups, so a resume keeps it

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None and group["weight_decay"]:
                    rows = parameter.grad.coalesce().indices()[0]  # coalesced: each row decays once
                    parameter.index_copy_(0, rows, parameter.index_select(0, rows)
                                          .mul_(1 - group["lr"] * group["weight_decay"]))
        return super().step(closure)

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        for state in self.state.values():  # a Python int, as the step count it saved: 0.9 ** int, not ** tensor
            if "step" in state:
                state["step"] = int(state["step"])


@dataclass
class Optimisation:
    """What one training stage steps with: AdamW over the dense parameters and, where the bag of n-grams has a
    sparse gradient, LazyAdamW over the bag; their schedule (one per optimiser, the same factor, stepped together);
    the float16 loss scaler (CUDA) and the loss watch."""

    optimizers: list[torch.optim.Optimizer]  # AdamW first, then the bag's LazyAdamW when there is one
    schedulers: list[torch.optim.lr_scheduler.LambdaLR]
    scaler: torch.amp.GradScaler
    watch: "LossWatch"

    @property
    def lr(self) -> float:
        """The learning rate the last step left (the dense parameters'; the bag follows the same factor)."""
        return self.schedulers[0].get_last_lr()[0]

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def unscale(self) -> None:
        for optimizer in self.optimizers:
            self.scaler.unscale_(optimizer)

    def step(self) -> None:
        """Apply the step (the scaler skips every optimiser's where float16 gradients overflowed), then schedule."""
        for optimizer in self.optimizers:
            self.scaler.step(optimizer)
        self.scaler.update()
        for scheduler in self.schedulers:
            scheduler.step()

    def follow_schedule(self) -> None:
        for optimizer, scheduler in zip(self.optimizers, self.schedulers):
            follow_schedule(optimizer, scheduler)


def sparse_bag(model: torch.nn.Module, allowed: bool) -> list[torch.nn.Parameter]:
    """Switch the bag of n-grams to a sparse gradient where `allowed`; the parameters that then have one.

    The bag is most of a model's parameters (vocabulary + buckets rows), yet a batch reads a few thousand rows of
    it: a dense gradient and a dense AdamW update over the whole table cost more than the rest of the step. The
    switch is the training's business, made before DistributedDataParallel wraps the model (it reads it then);
    a loaded model, and the saved files, know nothing of it."""
    bag = getattr(model, "ngram_embedding", None)
    if bag is None or not allowed:
        return []
    bag.sparse = True
    return [bag.weight]


def make_optimisation(parameters, lr: float, weight_decay: float, total_steps: int, warmup: float, amp: bool,
                      device: torch.device, sparse: list[torch.nn.Parameter] = ()) -> Optimisation:
    """AdamW with a linear warm-up over the first `warmup` share of `total_steps`, then cosine decay; a gradient
    scaler where mixed precision is float16 (on CUDA); a loss watch that reads the device as rarely as it may.
    sparse: parameters (among `parameters`) whose gradient is sparse (sparse_bag): LazyAdamW updates those."""
    sparse_ids = {id(parameter) for parameter in sparse}
    optimizers = [make_optimizer([p for p in parameters if id(p) not in sparse_ids], lr, weight_decay)]
    if sparse:
        optimizers.append(LazyAdamW(list(sparse), lr, weight_decay))
    factor = warmup_cosine(total_steps, int(warmup * total_steps))
    schedulers = [torch.optim.lr_scheduler.LambdaLR(optimizer, factor) for optimizer in optimizers]
    scaler = torch.amp.GradScaler(device.type, enabled=amp and amp_dtype(device) == torch.float16)
    watch = LossWatch(LossWatch.CUDA_CHECK_EVERY if device.type == "cuda" else 1)
    return Optimisation(optimizers, schedulers, scaler, watch)


def warmup_cosine(total_steps: int, warmup_steps: int):
    """LambdaLR factor: a linear warm-up over warmup_steps, then cosine decay to zero at total_steps."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def follow_schedule(optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
    """Set each group's learning rate to what the scheduler's factor gives at its current step: after a resumed
    run's schedule is stretched over more epochs, its next step already takes the new value."""
    for group, base_lr, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base_lr * factor(scheduler.last_epoch)


def amp_dtype(device: torch.device) -> torch.dtype:
    # float16 on CUDA (with a GradScaler); bfloat16 on the CPU, whose fused RNN kernels run it natively where
    # the CPU has bfloat16 instructions, and whose exponent range needs no loss scaling.
    return torch.float16 if device.type == "cuda" else torch.bfloat16


@functools.cache
def cpu_autocast_works(cell: str, embedding_dim: int, hidden_dim: int, num_layers: int, bidirectional: bool) -> bool:
    """Whether this CPU runs such an RNN forward and backward under bfloat16 autocast.

    oneDNN, which runs PyTorch's CPU RNN kernels, has bfloat16 LSTM primitives only for CPUs with AVX-512
    (or AMX); on an AVX2-only CPU creating one fails with "could not create a primitive descriptor". Rather
    than guess from CPU flags, try it: a two-text batch through both CPU paths of the model (the per-direction
    kernels and the module's fused call), with the run's own cell and sizes. The answer is kept for the process.
    """
    config = ModelConfig(vocab_size=4, num_classes=2, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
                         num_layers=num_layers, cell=cell, bidirectional=bidirectional, word_dropout=0.0)
    with torch.random.fork_rng(devices=[]):  # the run's own random stream stays untouched
        model = RNNClassifier(config)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                uneven = model(torch.tensor([[2, 3, 1], [2, 0, 0]]), torch.tensor([3, 1]))  # per-direction kernels
                even = model(torch.tensor([[2, 3]]), torch.tensor([2]))  # the module's own fused call
            (uneven.float().sum() + even.float().sum()).backward()
        except RuntimeError:
            return False
    return True


def cpu_has_bfloat16_instructions() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), as torch's own dispatch reads it."""
    return any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported",
                                                                     "_is_amx_tile_supported"))


def use_amp(asked: bool, device: torch.device, model_config: ModelConfig, log) -> bool:
    """Whether a run that `asked` for mixed precision gets it here; where the CPU cannot, or would gain nothing,
    one line says so."""
    if not asked or device.type != "cpu":
        return asked
    if not cpu_has_bfloat16_instructions():
        # oneDNN still runs bfloat16 on plain AVX-512 by converting every value: a training pass took 2.3x as long as
        # float32 on such a Xeon (docs/BENCHMARKS.md, --amp), so --amp would only slow the run down
        log("--amp: this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX), where bfloat16 is slower than "
            "float32; training in float32 instead")
        return False
    fields = ("cell", "embedding_dim", "hidden_dim", "num_layers", "bidirectional")
    if cpu_autocast_works(*(getattr(model_config, name) for name in fields)):
        return True
    log(f"--amp: this CPU has no bfloat16 kernel for the {model_config.cell.upper()} (oneDNN needs AVX-512 or AMX "
        "for it); training in float32 instead")
    return False


def train_step(loss: torch.Tensor, model: torch.nn.Module, optimisation: Optimisation, clip: float,
               step: dict | None = None, average: "WeightAverage | None" = None) -> None:
    """Backward, clip the gradient norm, let the loss watch see the step before it is applied, then apply it.
    step: what the step is (epoch, step, steps, lengths), for the watch's message."""
    optimisation.zero_grad()
    optimisation.scaler.scale(loss).backward()
    optimisation.unscale()  # clip the true gradients, not the scaled ones
    grad_norm = clip_gradients(model.parameters(), clip)
    # Under a GradScaler (float16) infinite gradients are its business: it skips the step, lowers the scale.
    optimisation.watch.add(loss, grad_norm.new_zeros(()) if optimisation.scaler.is_enabled() else grad_norm, step)
    optimisation.step()
    if average is not None:
        average.update()


def clip_gradients(parameters, max_norm: float) -> torch.Tensor:
    """clip_grad_norm_'s clipping by the global norm over every gradient, the bag's sparse one included; its total
    norm. torch's own has no norm kernel for a sparse gradient (NotImplementedError on torch 2.13)."""
    grads = []
    for parameter in parameters:
        if parameter.grad is None:
            continue
        if parameter.grad.is_sparse:
            # a row that occurs twice in the batch is two entries until coalesced; the norm is of their sum
            parameter.grad = parameter.grad.coalesce()
            grads.append(parameter.grad._values())  # the sparse gradient's own storage: scaling it scales the grad
        else:
            grads.append(parameter.grad)
    total_norm = torch.nn.utils.get_total_norm(grads)
    # as clip_grad_norm_ does: the same 1e-6 and clamp, one multiply over all of them
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total_norm + 1e-6), max=1.0))
    return total_norm


class WeightAverage:
    """An exponential moving average of a model's weights (Polyak averaging), which is what gets validated
    and saved: it smooths out the last steps' noise at no cost in training speed.

    The decay grows from 0 towards `decay` over the first steps, (1 + t) / (10 + t), so the average never
    holds much of the random initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay, self.updates = decay, 0
        self.names, self.parameters = zip(*model.named_parameters())
        self.averages = [parameter.detach().clone() for parameter in self.parameters]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.averages, [parameter.detach() for parameter in self.parameters], 1 - decay)

    @contextmanager
    def in_place(self):
        """Inside the block the model holds the averaged weights; its own come back after it."""
        self.swap()
        try:
            yield
        finally:
            self.swap()

    @torch.no_grad()
    def swap(self) -> None:
        for parameter, average in zip(self.parameters, self.averages):
            held = parameter.detach().clone()
            parameter.copy_(average)
            average.copy_(held)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"average.{name}": average.detach().cpu() for name, average in zip(self.names, self.averages)} | {
            "average_updates": torch.tensor(self.updates)}

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, average in zip(self.names, self.averages):
            average.copy_(tensors[f"average.{name}"])
        self.updates = int(tensors["average_updates"])


def averaged(average: "WeightAverage | None"):
    """The model with its averaged weights inside the block, when there is an average."""
    return average.in_place() if average is not None else nullcontext()


class LossWatch:
    """Finds the first training step whose loss or gradient norm is NaN or infinite, and before each
    checkpoint makes sure the weights that the last update left are finite too.

    On the CPU every step is looked at as it ends, before the optimizer applies it (reading a number there
    costs nothing). On CUDA reading one waits for the GPU, so the losses stay on the device and are read
    together every `check_every` steps, at the epoch's end and before each checkpoint: a bad step is still
    found and named, and nothing after it is saved.
    """

    CUDA_CHECK_EVERY = 100

    def __init__(self, check_every: int = 1):
        self.every = check_every
        self.pending: list[tuple[torch.Tensor, dict]] = []  # (loss and grad norm [2], what the step was)
        self.last_step: dict | None = None

    def add(self, loss: torch.Tensor, grad_norm: torch.Tensor, step: dict) -> None:
        self.pending.append((torch.stack([loss.detach(), grad_norm.detach().to(loss.dtype)]), step))
        self.last_step = step
        if len(self.pending) >= self.every:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        values = torch.stack([value for value, _ in self.pending]).cpu()  # [steps, 2]
        finite = torch.isfinite(values)
        steps = [step for _, step in self.pending]
        self.pending = []
        if not finite.all():
            row = int((~finite.all(dim=1)).nonzero()[0])
            loss, grad_norm = values[row].tolist()
            what = f"the loss is {loss}" if not finite[row, 0] else f"the gradient norm is {grad_norm}"
            raise NonFiniteLossError(f"{describe_step(**steps[row])}: {what}")

    def check_weights(self, model) -> None:
        """Before a checkpoint: an update can overflow the weights even when its loss and gradients are finite."""
        self.check()
        names, parameters = zip(*model.named_parameters())
        finite = torch.stack([torch.isfinite(parameter).all() for parameter in parameters]).cpu()
        if not finite.all():
            bad = [name for name, ok in zip(names, finite) if not ok]
            where = describe_step(**self.last_step) if self.last_step else "before the first step"
            raise NonFiniteLossError(f"{where}: its update left NaN or infinite values in {', '.join(bad[:3])}"
                                     + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""))


def describe_step(epoch: int, step: int, steps: int, lengths: torch.Tensor, stage: str = "epoch") -> str:
    shortest, longest = int(lengths.min()), int(lengths.max())
    tokens = f"{shortest} to {longest}" if shortest < longest else f"{longest}"
    return (f"{stage} {epoch}, step {step} of {steps} (a batch of {len(lengths)} texts of {tokens} tokens: "
            f"ids of shape [{len(lengths)}, {longest}])")
