"""Where a training process stands in a torchrun job: rank 0 of 1 without one.

    torchrun --nproc_per_node 2 -m textrnn train --dataset ../shared/data/sst2 --output runs/sst2

Rank 0 reads the data first, trains the tokenizer, writes every file and prints the log; the other ranks wait for
its vocabulary and train their share of each epoch's batches. NCCL on CUDA, gloo on the CPU.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import resolve_device


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()

    def all_reduce(self, totals: torch.Tensor) -> None:
        """Sum `totals` over every rank, in place."""
        if dist.is_initialized():
            dist.all_reduce(totals)

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module that training calls: DistributedDataParallel under torchrun (it averages the gradients)."""
        if self.world_size == 1:
            return model
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                         else None)

    @property
    def sparse_gradients(self) -> bool:
        """Whether DistributedDataParallel can average a sparse gradient here: gloo all-reduces one, NCCL cannot
        (its runs keep the bag of n-grams dense). A single process has nothing to average."""
        return self.world_size == 1 or not dist.is_initialized() or dist.get_backend() == "gloo"

    def log(self, *args, **kwargs) -> None:
        """print, on the main rank only."""
        if self.is_main:
            print(*args, **kwargs)


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    world = Distributed(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")),
                        int(os.environ.get("WORLD_SIZE", "1")))
    device = resolve_device(device_name)
    if world.world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world, device


def end_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
