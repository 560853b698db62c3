"""What a training run reports: the best epoch, its validation metrics, time and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainResult:
    """What a finished `fit` reports; the model holds the best epoch's weights."""

    checkpoint: Path | None
    """Directory of the best model's checkpoint (None when training without an out_dir)."""
    best_epoch: int
    best_metrics: dict[str, float]
    epochs: int
    """Epochs run in total (including those before a resume)."""
    seconds: float
    """Wall time of all epochs, validation included."""
    seconds_to_best: float
    """Wall time until the end of the best epoch."""
    history: list[dict[str, float]] = field(default_factory=list)
    averaged: bool = False
    """The model holds the average of the last `train.average_last` epochs, which validated
    better than the best single epoch (`best_metrics` are then the average's)."""
    members: list[TrainResult] = field(default_factory=list)
    """For an ensemble, each member's own result; the fields above are then the ensemble's:
    summed validation scores, total epochs and time, and the time until the last member
    reached its best (the ensemble is complete only then). Its history is empty."""

    @staticmethod
    def of_members(
        checkpoint: Path, members: list[TrainResult], metrics: dict[str, float]
    ) -> TrainResult:
        """An ensemble's result from its members' (trained one after the other) and the
        validation `metrics` of their summed scores."""
        before_last = sum(r.seconds for r in members[:-1])
        return TrainResult(
            checkpoint=checkpoint,
            best_epoch=max(r.best_epoch for r in members),
            best_metrics=metrics,
            epochs=sum(r.epochs for r in members),
            seconds=sum(r.seconds for r in members),
            seconds_to_best=before_last + members[-1].seconds_to_best,
            members=members,
        )


__all__ = ["TrainResult"]
