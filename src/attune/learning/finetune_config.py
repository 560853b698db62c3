"""How `attune learn` fine-tunes: the settings of a round."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attune.engine.config import EngineConfig


class FineTuneConfig(BaseModel):
    """How `attune learn` fine-tunes; every field documented with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    min_events: int = Field(500, ge=1)
    """Fine-tune only once at least this many new events are logged."""
    holdout_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    """Share of the new events (the newest) held out to check the candidate."""
    max_holdout: int = Field(2000, ge=1)
    """At most this many held-out events (the check costs one forward per event)."""
    max_train_events: int = Field(4000, ge=1)
    """Train on at most this many of the newest new events per round (the rest of a backlog
    left by rejected rounds is context and replay), which bounds a round's cost."""
    replay: float = Field(2.0, ge=0.0)
    """Windows of users without new events replayed per window of a user with new events
    (on the ml-100k stream, 2 replayed windows per new one with one pass beat 1 with two
    passes, at half the time)."""
    epochs: int = Field(1, ge=1)
    """Passes over the recent and replayed windows."""
    lr: float = Field(5e-4, gt=0.0)
    """AdamW learning rate (lower than training from scratch: the model is already good)."""
    batch_size: int = Field(256, ge=1)
    """Windows per batch."""
    grad_clip: float = Field(1.0, ge=0.0)
    """Global gradient norm clip; 0 turns it off."""
    tolerance: float = Field(0.0, ge=0.0)
    """Publish when candidate NDCG@k >= parent NDCG@k - tolerance."""
    k: int = Field(10, ge=1)
    """Cut-off of the check metrics."""
    window: Literal["positive", "all"] = EngineConfig.model_fields["window"].default
    """Which events enter a user's window in the check (as the serving engine's `window`,
    whose default it takes)."""
    seed: int = 0
    """Seed of sampling, initialisation and dropout."""
    device: str = "cpu"
    """Torch device: cpu, cuda or auto."""
    threads: int | None = Field(None, ge=1)
    """Torch threads while fine-tuning (None: leave the process setting alone)."""


__all__ = ["FineTuneConfig"]
