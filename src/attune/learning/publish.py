"""Storing a fine-tuning candidate as a registry version: its checkpoint(s) written to a
staging directory inside the registry, then added (a rename) and, when published, promoted."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from attune.learning.registry import DataWindow, ModelRegistry, VersionInfo
from attune.model.ensemble import Ensemble
from attune.training.checkpoint import LoadedModel, member_dir, save_checkpoint, save_members


def publish_candidate(
    registry: ModelRegistry,
    models: Ensemble[LoadedModel],
    parent: int,
    better: bool,
    window: DataWindow,
    metrics: dict[str, float],
    reason: str,
    promote: bool,
    users: np.ndarray | None = None,
) -> VersionInfo:
    """Store `models` (one, or an ensemble's members) as a new version of `registry`,
    `published` when `better` (and current when `promote`), else `rejected`; `reason` is
    its note, `users` its user set (`trained_users`; None: unknown)."""
    registry.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".candidate-", dir=registry.root))
    try:
        dirs = (
            [staging] if len(models) == 1 else [member_dir(staging, k) for k in range(len(models))]
        )
        for model, directory in zip(models, dirs, strict=True):
            save_checkpoint(
                directory,
                model.encoder,
                model.train_config,
                items=model.items,
                users=model.users,
                item_attributes=model.item_attributes,
                user_attributes=model.user_attributes,
                event_types=model.event_types,
                metrics=metrics,
            )
        if len(models) > 1:
            save_members(staging, len(models), metrics)
        info = registry.add(
            staging,
            parent=parent,
            status="published" if better else "rejected",
            data_window=window,
            metrics=metrics,
            note=reason,
            users=users,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when `add` moved it
    if better and promote:
        registry.promote(info.version)
    return info


__all__ = ["publish_candidate"]
