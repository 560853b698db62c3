"""Trained models for benchmarks that need one but do not measure quality: trained once with
the default config (capped epochs) and cached under bench/.cache/."""

from __future__ import annotations

import sys
from pathlib import Path

from _report import SHARED
from attune.data import load
from attune.training.checkpoint import CheckpointError, load_members
from attune.training.config import load_config
from attune.training.trainer import train

CACHE = Path(__file__).resolve().parent / ".cache"


def cached_model(dataset: str, max_epochs: int = 20, members: int = 1) -> Path:
    """Directory of a model trained on ../shared/datasets/<dataset>, training it if needed
    (`members` > 1: an ensemble of that many)."""
    out = CACHE / (f"{dataset}-e{max_epochs}" + (f"-m{members}" if members > 1 else ""))
    try:
        load_members(out)
        return out
    except CheckpointError:
        pass
    cfg = load_config(
        overrides=[
            f"model.members={members}",
            f"train.max_epochs={max_epochs}",
            "train.progress=false",
            "train.tensorboard=false",
        ]
    )
    print(
        f"training a {dataset} model for the benchmark ({max_epochs} epochs max)...",
        file=sys.stderr,
    )
    train(load(SHARED / dataset), cfg, out)
    return out
