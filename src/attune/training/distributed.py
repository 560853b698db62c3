"""Data-parallel training over processes (PyTorch DistributedDataParallel).

Every process (rank) holds the whole dataset and an identical model. Each optimizer step takes
one global batch of `train.batch_size` windows, the same on every rank (the same seeded
order), and rank r trains on its windows r, r + N, r + 2N, ... of it; DDP all-reduces the
gradients, so each step equals one process's step over the whole batch and N processes train
the model one process would, up to float rounding. Validation, the early-stopping decision,
checkpoints and logs are rank 0's; it broadcasts the validation metrics, so every rank applies
the same decision and all stop together.

A process group comes from the environment `torchrun` sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT), or from `attune.training.launch`, which spawns local workers with
the same variables: gloo on a CPU, NCCL on CUDA (one GPU per local rank).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from attune.model.device import resolve_device

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: validates, decides, writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, batch: np.ndarray) -> tuple[np.ndarray, bool]:
        """This rank's windows of a global batch and whether they count. A rank left without
        windows (a last batch smaller than the world) runs the batch's first window at
        weight 0: every rank must take part in each gradient all-reduce."""
        mine = batch[self.rank :: self.world]
        return (mine, True) if len(mine) else (batch[:1], False)

    def device(self, device: torch.device) -> torch.device:
        """The CUDA device of this local rank; other devices as they are."""
        if self.distributed and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj`, on every rank."""
        if not self.distributed:
            return obj
        box: list[Any] = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Each value summed over the ranks."""
        if not self.distributed:
            return values
        total = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return [float(v) for v in total.tolist()]

    def wrap(self, module: nn.Module, device: torch.device, find_unused: bool) -> nn.Module:
        """`module` under DDP when there are several ranks (its gradients all-reduced in the
        backward pass), else itself. `find_unused`: some parameter may get no gradient."""
        if not self.distributed:
            return module
        return DistributedDataParallel(
            module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused,
        )


def current_ranks() -> Ranks:
    """This process's ranks in the initialised process group (none: rank 0 of 1)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return Ranks(dist.get_rank(), dist.get_world_size(), local)


def default_threads() -> int:
    """Torch threads per process when `train.threads` is unset: this machine's cores shared
    by the processes on it."""
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, per_node))


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[Ranks]:
    """Join the process group the environment describes for the body (WORLD_SIZE unset or 1:
    one process, nothing to join; a group already joined is kept as it is)."""
    if dist.is_available() and dist.is_initialized():
        yield current_ranks()
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Ranks()
        return
    cuda = resolve_device(device_name).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield current_ranks()
        dist.barrier()  # rank 0 finishes writing before any rank leaves the group
    finally:
        dist.destroy_process_group()


__all__ = ["Ranks", "current_ranks", "default_threads", "process_group"]
