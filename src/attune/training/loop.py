"""The epoch and step loop of the interest encoder, shared by `attune train` (whole data,
early stopping on validation) and fine-tuning (recent and replayed windows, a fixed number of
passes): batches of windows in a seeded order, one optimizer step per batch, in the configured
precision (`attune.training.precision`) and, over several processes, on each rank's share of
every batch (`attune.training.distributed`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from attune.data.dataset import Dataset
from attune.model.encoder import InterestEncoder
from attune.training.data import Batch, TrainingWindows
from attune.training.distributed import Ranks
from attune.training.losses import SampledSoftmaxLoss, full_softmax_loss
from attune.training.precision import MixedPrecision

Loss = Callable[[InterestEncoder, Tensor, Tensor, Tensor], Tensor]
"""(model, hidden states at target positions [M, D], targets [M], item vectors) -> loss."""
UserBags = Callable[[np.ndarray], list[Tensor]]
"""A batch's users (internal indices) -> each one's attribute token ids."""


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on Linear weights only: decaying embeddings or norms hurts rare items."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) in decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0},
    ]


def dataset_user_bags(dataset: Dataset, device: torch.device) -> list[Tensor]:
    """Each user's attribute token ids, as the encoder's `user_tokens` takes them."""
    table = dataset.user_attributes
    return [torch.from_numpy(table.row(u)).to(device) for u in range(dataset.n_users)]


def next_item_loss(
    kind: Literal["softmax", "sampled_softmax"],
    item_counts: Callable[[], np.ndarray],
    n_negatives: int,
    device: torch.device,
) -> Loss:
    """The training loss `train.loss` names; `item_counts` (training events per item) is read
    only by the sampled softmax, whose negatives follow popularity."""
    if kind == "sampled_softmax":
        return SampledSoftmaxLoss(item_counts(), n_negatives, device)
    return full_softmax_loss


class NextItemStep(nn.Module):
    """The encoder and its loss as one module: DistributedDataParallel prepares its gradient
    all-reduce in `forward`, so the whole step must run through one."""

    def __init__(self, model: InterestEncoder, loss: Loss) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(
        self, items: Tensor, event_types: Tensor, targets: Tensor, bags: list[Tensor] | None
    ) -> tuple[Tensor, Tensor]:
        """(mean loss per target, targets) of one batch."""
        hidden, item_vecs = self.model.forward_with_items(items, event_types, bags)
        mask = targets > 0
        loss = self.loss(self.model, hidden[mask], targets[mask] - 1, item_vecs)
        return loss.float(), mask.sum()


class EpochLoop:
    """Optimizer steps over batches of training windows.

    The learning rate of step s is `lr * lr_scale * min(1, (s + 1) / warmup_steps)`: a linear
    warm-up, then whatever scale the caller sets (training lowers it on plateaus).
    """

    def __init__(
        self,
        model: InterestEncoder,
        optimizer: torch.optim.Optimizer,
        loss: Loss,
        *,
        lr: float,
        grad_clip: float,
        device: torch.device,
        warmup_steps: int = 0,
        user_bags: UserBags | None = None,
        precision: MixedPrecision | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.lr, self.grad_clip, self.device = lr, grad_clip, device
        self.warmup_steps = warmup_steps
        self.user_bags = user_bags
        self.precision = precision or MixedPrecision("fp32", device)
        self.ranks = ranks or Ranks()
        # A learned temperature gets no gradient under dot-product scoring.
        unused = model.config.scoring == "dot" and model.log_inv_temperature.requires_grad
        self.step_module = self.ranks.wrap(NextItemStep(model, loss), device, unused)
        self.step = 0
        """Optimizer steps taken (drives the warm-up)."""
        self.lr_scale = 1.0

    def learning_rate(self) -> float:
        """The learning rate of the next step."""
        warm = min(1.0, (self.step + 1) / max(1, self.warmup_steps))
        return self.lr * self.lr_scale * warm

    def train_step(self, batch: Batch, counts: bool = True) -> tuple[float, int]:
        """One optimizer step on `batch`; returns (mean loss per target, targets). A batch
        that does not count (`Ranks.shard`) takes part in the step with no weight."""
        bags = None if self.user_bags is None else self.user_bags(batch.users)
        with self.precision.autocast():
            loss, n = self.step_module(batch.items, batch.event_types, batch.targets, bags)
        mean, local = float(loss.detach()), int(n) if counts else 0
        if self.ranks.distributed:
            # DDP averages the ranks' gradients; weighing each rank's mean by its share of the
            # batch's targets makes that the gradient of the mean over the whole batch.
            (total,) = self.ranks.sum([float(local)], self.device)
            loss = loss * (local * self.ranks.world / max(total, 1.0))
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        self.precision.step(loss, self.optimizer, self.model.parameters(), self.grad_clip)
        self.step += 1
        return mean, local

    def run_epoch(
        self,
        windows: TrainingWindows,
        batch_size: int,
        rng: np.random.Generator,
        *,
        desc: str = "",
        progress: bool = False,
    ) -> dict[str, float]:
        """One pass over every window, batches in `rng`'s order; returns the mean loss per
        target, the last learning rate and the time it took."""
        batches = windows.epoch_batches(batch_size, rng)
        self.model.train()
        total, count, lr = 0.0, 0, self.lr
        start = time.perf_counter()
        bar = tqdm(batches, desc=desc, disable=not progress, leave=False)
        for index in bar:
            lr = self.learning_rate()
            shard, counts = self.ranks.shard(index)
            loss, n = self.train_step(windows.batch(shard, self.device), counts)
            total += loss * n
            count += n
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}", refresh=False)
        summed, targets = self.ranks.sum([total, count], self.device)  # every rank's
        return {
            "loss": summed / max(targets, 1),
            "lr": lr,
            "train_seconds": time.perf_counter() - start,
        }


__all__ = [
    "EpochLoop",
    "Loss",
    "NextItemStep",
    "UserBags",
    "dataset_user_bags",
    "next_item_loss",
    "param_groups",
]
