"""The files a training run keeps in its out_dir: the best model's checkpoint, the trainer
state a resumed run continues from, and TensorBoard scalars. Over several processes only rank 0
writes them (`Trainer.writes_to`); every rank reads the trainer state to resume.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from attune.log import get_logger
from attune.training.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_trainer_state,
    save_checkpoint,
    save_trainer_state,
)

if TYPE_CHECKING:
    from attune.training.trainer import Trainer

_log = get_logger(__name__)


class ScalarWriter:
    """TensorBoard scalars under `<out_dir>/tensorboard`, opened at the first write."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self._writer: Any = None

    def write(self, metrics: dict[str, float], step: int) -> None:
        if self.out_dir is None:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # slow import, only when used

            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def save_best(trainer: Trainer, metrics: dict[str, float]) -> None:
    """Write the model the trainer holds as the run's checkpoint, with its validation
    `metrics` (nothing without an out_dir, or on a rank other than 0)."""
    out = trainer.writes_to
    if out is None:
        return
    ds = trainer.dataset
    # The config as trained: a data-derived batch size is written as the number it was.
    fit = trainer.config.train.model_copy(update={"batch_size": trainer.batch_size})
    save_checkpoint(
        out,
        trainer.model,
        trainer.config.model_copy(update={"train": fit}),
        items=ds.items,
        users=ds.users,
        item_attributes=ds.item_attributes,
        user_attributes=ds.user_attributes,
        event_types=ds.event_types,
        metrics={k: v for k, v in metrics.items() if k.startswith("valid_")}
        | {"epoch": float(trainer.epoch)},
    )


def save_state(trainer: Trainer) -> None:
    """Write what `resume` needs to continue exactly where the trainer is now."""
    out = trainer.writes_to
    if out is None:
        return
    state = {
        "format": FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.loop.precision.state_dict(),
        "encoder": dataclasses.asdict(trainer.encoder_config),
        "epoch": trainer.epoch,
        "step": trainer.loop.step,
        "best_score": trainer.best_score,
        "best_epoch": trainer.best_epoch,
        "bad_epochs": trainer.bad_epochs,
        "lr_scale": trainer.loop.lr_scale,
        "elapsed": trainer.elapsed,
        "elapsed_to_best": trainer.elapsed_to_best,
        "history": trainer.history,
        # The epochs `average_last` will average, so a resumed run averages the same ones.
        "recent_states": [
            {k: v.detach().cpu() for k, v in state.items()} for state in trainer.recent_states
        ],
    }
    save_trainer_state(out, state)


def resume(trainer: Trainer) -> None:
    """Continue from `out_dir`'s trainer state: weights, optimizer, counters, best model."""
    out = trainer.out_dir
    if out is None:
        raise ValueError("resume needs an out_dir")
    state = load_trainer_state(out)
    if state["encoder"] != dataclasses.asdict(trainer.encoder_config):
        raise CheckpointError(f"checkpoint {out} was trained with a different model config or data")
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.loop.precision.load_state_dict(state.get("scaler", {}))
    for name in ("epoch", "best_score", "best_epoch", "bad_epochs", "elapsed"):
        setattr(trainer, name, state[name])
    trainer.loop.step = state["step"]
    trainer.loop.lr_scale = float(state.get("lr_scale", 1.0))
    trainer.elapsed_to_best = state["elapsed_to_best"]
    trainer.history = list(state["history"])
    trainer.recent_states.clear()
    for recent in state.get("recent_states", []):
        trainer.recent_states.append({k: v.to(trainer.device) for k, v in recent.items()})
    if trainer.best_epoch:
        best = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
        trainer.best_state = {k: v.to(trainer.device) for k, v in best.items()}
    if trainer.ranks.is_main:
        _log.info("resumed", out_dir=str(out), epoch=trainer.epoch, step=trainer.loop.step)


__all__ = ["ScalarWriter", "resume", "save_best", "save_state"]
