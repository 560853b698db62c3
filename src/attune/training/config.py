"""Typed training configuration: documented defaults, TOML files and `--set key=value` overrides.

A config has two sections, `[model]` (architecture) and `[train]` (the fitting loop). One
default config is meant to do well on every dataset; anything that depends on the data
(`model.max_len`, whether attributes or event types exist, `train.batch_size`) is derived from
the data when the config leaves it unset, in `ModelConfig.resolve` and `derived_batch_size`.

Each section is a pydantic model (unknown keys forbidden, types strict, ranges as field
constraints); an unknown key or a bad value raises `ConfigError` naming the key as it is
written in TOML (`train.lr: must be > 0 (got -1)`). A TOML file sets only what it changes:

    [model]
    dim = 64

    [train]
    lr = 1e-3
    device = "cuda"

Files, overrides and errors go through `config_loader`, the loader every command uses, for
these sections and for the engine, fine-tuning and server settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from attune.model.encoder import EncoderConfig
from attune.training.config_loader import (
    ConfigError,
    describe_errors,
    env_overrides,
    read_toml,
    validate,
    with_overrides,
)

__all__ = [
    "ConfigError",
    "FitConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "derived_batch_size",
    "describe_errors",
    "load_config",
    "read_toml",
    "validate",
    "with_overrides",
]


_SECTION = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


class ModelConfig(BaseModel):
    """Architecture hyperparameters of the interest model. The defaults shared with the
    encoder are `EncoderConfig`'s, so a model built either way is the same."""

    model_config = _SECTION

    dim: int = Field(EncoderConfig.dim, ge=1)
    """Width of embeddings, attention and the interest vector."""
    n_layers: int = Field(EncoderConfig.n_layers, ge=1)
    """Transformer blocks."""
    n_heads: int = Field(EncoderConfig.n_heads, ge=1)
    """Attention heads per block; must divide `dim`."""
    dropout: float = Field(EncoderConfig.dropout, ge=0.0, lt=1.0)
    """Dropout on input embeddings and residual branches; high values suit sparse data."""
    attn_dropout: float = Field(EncoderConfig.attn_dropout, ge=0.0, lt=1.0)
    """Dropout on attention weights."""
    max_len: int | None = Field(None, ge=1)
    """Events the model reads per user; unset = the 99th percentile of training sequence
    lengths, at least 10 and at most `max_len_cap`."""
    max_len_cap: int = Field(50, ge=1)
    """Upper bound for a derived `max_len`; longer windows were worse on ml-100k and LastFM."""
    item_attributes: bool = True
    """Add item attribute embeddings (when the data has item attributes)."""
    user_attributes: bool = False
    """Add user attribute embeddings (when the data has user attributes)."""
    event_types: bool = True
    """Embed event types (when the training data has more than one)."""
    scoring: Literal["cosine", "dot"] = EncoderConfig.scoring
    """Cosine with a temperature, or a plain dot product."""
    temperature: float = Field(EncoderConfig.temperature, gt=0.0)
    """Cosine temperature (initial value when learned)."""
    learn_temperature: bool = EncoderConfig.learn_temperature
    """Learn the temperature instead of keeping it fixed."""
    members: int = Field(2, ge=1)
    """Independently trained copies of the model whose scores are summed (an ensemble); 1 is a
    single model. Member 0 keeps `train.seed`, member k trains with seed + k * 7919.
    Two by default: the pair beats one model on every dataset of bench/quality.py (Sports
    test HR@10 0.0547 -> 0.0586 over 3 seeds), for twice the training time and about 1.5x the
    serving cost per event (bench/results/quality.md, ensemble_serving.md).
    Every command reads an ensemble: `evaluate` and `recommend` rank by the summed scores,
    `serve` serves the members' unit vectors side by side, `learn` tunes each member."""

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.dim % self.n_heads:
            raise ValueError(
                f"model.n_heads: must divide model.dim (got n_heads {self.n_heads}, dim {self.dim})"
            )
        if self.members > 1 and self.scoring != "cosine":
            # Served as one cosine over the members' joined unit vectors (engine/interest.py).
            raise ValueError(
                "model.members: an ensemble needs model.scoring = cosine "
                "(set model.members = 1 for one dot-product model)"
            )
        return self

    def resolve(
        self,
        n_items: int,
        sequence_lengths: np.ndarray,
        n_event_types: int = 0,
        n_item_tokens: int = 0,
        n_user_tokens: int = 0,
    ) -> EncoderConfig:
        """The full encoder config for data of these sizes; 0 means the data lacks a feature."""
        max_len = self.max_len
        if max_len is None:
            p99 = float(np.percentile(sequence_lengths, 99)) if len(sequence_lengths) else 0.0
            max_len = int(min(max(10, int(np.ceil(p99))), self.max_len_cap))
        return EncoderConfig(
            n_items=n_items,
            max_len=max_len,
            dim=self.dim,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            dropout=self.dropout,
            attn_dropout=self.attn_dropout,
            n_event_types=n_event_types if self.event_types and n_event_types > 1 else 0,
            n_item_tokens=n_item_tokens if self.item_attributes else 0,
            n_user_tokens=n_user_tokens if self.user_attributes else 0,
            scoring=self.scoring,
            temperature=self.temperature,
            learn_temperature=self.learn_temperature,
        )


class FitConfig(BaseModel):
    """The training loop: loss, optimizer, schedule, stopping and where it runs."""

    model_config = _SECTION

    loss: Literal["softmax", "sampled_softmax"] = "softmax"
    """Full softmax cross-entropy over all items, or sampled softmax with logQ correction."""
    n_negatives: int = Field(512, ge=1)
    """Negatives shared by a batch for `sampled_softmax` (drawn by item popularity)."""
    batch_size: int | None = Field(None, ge=1)
    """Windows per batch; unset = derived from the data (`derived_batch_size`): about 64
    steps an epoch, 32 to 256 windows a batch. Over N processes this is the global batch:
    each process takes 1/N of it, so the same config trains the same model."""
    lr: float = Field(2e-3, gt=0.0)
    """Peak AdamW learning rate."""
    weight_decay: float = Field(0.0, ge=0.0)
    """AdamW weight decay on weight matrices (not on embeddings, biases or norms)."""
    warmup_steps: int = Field(20, ge=0)
    """Steps of linear learning-rate warm-up from 0 to `lr`."""
    grad_clip: float = Field(1.0, ge=0.0)
    """Clip the global gradient norm to this value; 0 turns clipping off."""
    max_epochs: int = Field(200, ge=1)
    """Upper bound on epochs."""
    patience: int = Field(5, ge=1)
    """Stop after this many epochs without a better validation NDCG@10."""
    lr_decay: float = Field(1.0, gt=0.0, le=1.0)
    """Multiply the learning rate by this after `lr_patience` epochs without a better
    validation NDCG@10 (and again after each further `lr_patience`); 1 keeps it constant.
    Off by default: 0.3 on Sports (seed 0) gave test HR@10 0.0544 against 0.0546."""
    lr_patience: int = Field(2, ge=1)
    """Epochs without a better validation NDCG@10 before the learning rate decays."""
    average_last: int = Field(0, ge=0)
    """At the end, average the weights of the last this-many epochs and keep the average if
    its validation NDCG@10 beats the best single epoch; 0 or 1 turns it off. Off by default:
    on Sports (seed 0) the mean of the last 6 validated no better than the best epoch."""
    windows: Literal["last", "all"] = "all"
    """Histories longer than max_len: train on the last window only, or on all of them."""
    seed: int = 42
    """Seed for initialisation, shuffling and dropout (bitwise repeatable on CPU)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train: `auto` uses CUDA when available."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for torch per process; unset = every core (shared by the processes of a
    distributed run on one machine)."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Arithmetic of the training step (forward, loss, backward): `fp32`; `bf16` autocast
    (CPU or CUDA); `fp16` autocast with loss scaling (CUDA only). Weights, optimizer state,
    validation and checkpoints stay float32 (`attune.training.precision`)."""
    eval_batch_size: int = Field(1024, ge=1)
    """Users per batch in validation ranking."""
    progress: bool = True
    """Show a tqdm progress bar per epoch."""
    tensorboard: bool = True
    """Write TensorBoard scalars under `<out_dir>/tensorboard`."""

    @model_validator(mode="after")
    def _precision_fits_device(self) -> FitConfig:
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError(
                "train.precision: fp16 needs train.device = cuda (or auto on a GPU); "
                "use bf16 on a CPU"
            )
        return self


def derived_batch_size(n_windows: int) -> int:
    """Batch size for `n_windows` training windows: n_windows / 64 rounded down to a power of
    two, within [32, 256].

    Small datasets need small batches: LastFM and ml-100k cut into about 2,000 windows, so
    256 a batch leaves 7-10 optimizer steps an epoch and early stopping judges noise. With 32
    (3 seeds each, full ranking): LastFM test HR@10 0.0823 against 0.0694 with 256, ml-100k
    0.1880 against 0.1824. Beauty and Sports (22,500 and 35,700 windows) keep 256.
    """
    per_step = max(1, n_windows // 64)
    return int(min(256, max(32, 1 << (per_step.bit_length() - 1))))


class TrainConfig(BaseModel):
    """Everything `train` needs besides the data: `[model]` and `[train]` sections."""

    model_config = _SECTION

    model: ModelConfig = ModelConfig()
    """Architecture."""
    train: FitConfig = FitConfig()
    """Training loop."""


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A validated `TrainConfig` from nested dicts (as TOML or JSON gives them)."""
    return validate(TrainConfig, data)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return config.model_dump()


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> TrainConfig:
    """The config of a TOML file (None: the defaults), then `ATTUNE_MODEL__*` and
    `ATTUNE_TRAIN__*` variables of `environ` (None: the process environment), then `--set`
    overrides; keys none of them sets keep their defaults."""
    data = read_toml(path) if path is not None else {}
    env = env_overrides(("model", "train"), os.environ if environ is None else environ)
    return config_from_dict(with_overrides(data, [*env, *overrides]))


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """A new config with `section.key=value` overrides applied, e.g. ["train.lr=1e-3"]."""
    return config_from_dict(with_overrides(config_to_dict(config), overrides))
