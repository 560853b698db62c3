"""Training an ensemble (`model.members` > 1): every member is an independent single model
with its own seed (`attune.model.ensemble.member_seed`); the ensemble is then validated on
its members' summed scores and marked as one checkpoint (`members.json`).

Independent runs, not one joint loss: the gain of an ensemble comes from members that err
differently, and a shared loss lets them co-adapt.
"""

from __future__ import annotations

from pathlib import Path

from attune.data.holdout import SelectionView
from attune.model.device import resolve_device
from attune.model.ensemble import Ensemble, member_seed
from attune.training.checkpoint import load_checkpoint, member_dir, save_members
from attune.training.config import TrainConfig
from attune.training.data import UserSequences
from attune.training.loop import dataset_user_bags
from attune.training.validation import ValidationSet, rank_targets, ranking_metrics


def member_config(config: TrainConfig, k: int) -> TrainConfig:
    """The single-model config of ensemble member k. Member 0 keeps the seed, so it is exactly
    the model the same config with `members = 1` trains."""
    return config.model_copy(
        update={
            "model": config.model.model_copy(update={"members": 1}),
            "train": config.train.model_copy(update={"seed": member_seed(config.train.seed, k)}),
        }
    )


def validate_members(selection: SelectionView, config: TrainConfig, out: Path) -> dict[str, float]:
    """Validate the trained members in `out` on their summed scores and write `members.json`
    with the metrics; returns them.

    The same validation as each member's own (event types and user attributes included), on
    the selection view's validation targets: the test targets are not in it.
    """
    dataset, split = selection.dataset, selection
    device = resolve_device(config.train.device)
    members = Ensemble(
        load_checkpoint(member_dir(out, k), device) for k in range(config.model.members)
    )
    sequences = UserSequences.from_interactions(split.train, dataset.n_users)
    validation = ValidationSet.build(split.valid, sequences)
    reads_users = members.first.encoder_config.n_user_tokens > 0
    ranks = rank_targets(
        members.map(lambda m: m.encoder),
        validation,
        batch_size=config.train.eval_batch_size,
        user_bags=dataset_user_bags(dataset, device) if reads_users else None,
    )
    metrics = ranking_metrics(ranks, 10, prefix="valid_")
    save_members(out, len(members), metrics)
    return metrics


__all__ = ["member_config", "validate_members"]
