"""Typed training configuration: documented defaults, TOML files and `--set key=value` overrides.

A config has two sections, `[model]` (architecture) and `[train]` (the fitting loop). One
default config is meant to do well on every dataset; anything that depends on the data
(`model.max_len`, whether attributes or event types exist, `train.batch_size`) is derived from
the data when the config leaves it unset, in `ModelConfig.resolve` and `derived_batch_size`.

Every value is validated once here; an unknown key or a bad value raises `ConfigError` naming
the key as it is written in TOML (`train.lr`). A TOML file sets only what it changes:

    [model]
    dim = 64

    [train]
    lr = 1e-3
    device = "cuda"
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from attune.model.encoder import EncoderConfig


class ConfigError(ValueError):
    """A config key is unknown or its value is invalid; the message names the key."""


@dataclass
class ModelConfig:
    """Architecture hyperparameters of the interest model."""

    dim: int = 64
    """Width of embeddings, attention and the interest vector."""
    n_layers: int = 2
    """Transformer blocks."""
    n_heads: int = 2
    """Attention heads per block; must divide `dim`."""
    dropout: float = 0.5
    """Dropout on input embeddings and residual branches; high values suit sparse data."""
    attn_dropout: float = 0.2
    """Dropout on attention weights."""
    max_len: int | None = None
    """Events the model reads per user; unset = the 99th percentile of training sequence
    lengths, at least 10 and at most `max_len_cap`."""
    max_len_cap: int = 50
    """Upper bound for a derived `max_len`; longer windows were worse on ml-100k and LastFM."""
    item_attributes: bool = True
    """Add item attribute embeddings (when the data has item attributes)."""
    user_attributes: bool = False
    """Add user attribute embeddings (when the data has user attributes)."""
    event_types: bool = True
    """Embed event types (when the training data has more than one)."""
    scoring: Literal["cosine", "dot"] = "cosine"
    """Cosine with a temperature, or a plain dot product."""
    temperature: float = 0.05
    """Cosine temperature (initial value when learned)."""
    learn_temperature: bool = False
    """Learn the temperature instead of keeping it fixed."""
    members: int = 2
    """Independently trained copies of the model whose scores are summed (an ensemble); 1 is a
    single model. Member 0 keeps `train.seed`, member k trains with seed + k * 7919.
    Two by default: the pair beats one model on every dataset of bench/quality.py (Sports
    test HR@10 0.0547 -> 0.0586 over 3 seeds), for twice the training time and about 1.5x the
    serving cost per event (bench/results/quality.md, ensemble_serving.md).
    Every command reads an ensemble: `evaluate` and `recommend` rank by the summed scores,
    `serve` serves the members' unit vectors side by side, `learn` tunes each member."""

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


@dataclass
class FitConfig:
    """The training loop: loss, optimizer, schedule, stopping and where it runs."""

    loss: Literal["softmax", "sampled_softmax"] = "softmax"
    """Full softmax cross-entropy over all items, or sampled softmax with logQ correction."""
    n_negatives: int = 512
    """Negatives shared by a batch for `sampled_softmax` (drawn by item popularity)."""
    batch_size: int | None = None
    """Windows per batch; unset = derived from the data (`derived_batch_size`): about 64
    steps an epoch, 32 to 256 windows a batch."""
    lr: float = 2e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay on weight matrices (not on embeddings, biases or norms)."""
    warmup_steps: int = 20
    """Steps of linear learning-rate warm-up from 0 to `lr`."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 turns clipping off."""
    max_epochs: int = 200
    """Upper bound on epochs."""
    patience: int = 5
    """Stop after this many epochs without a better validation NDCG@10."""
    lr_decay: float = 1.0
    """Multiply the learning rate by this after `lr_patience` epochs without a better
    validation NDCG@10 (and again after each further `lr_patience`); 1 keeps it constant.
    Off by default: 0.3 on Sports (seed 0) gave test HR@10 0.0544 against 0.0546."""
    lr_patience: int = 2
    """Epochs without a better validation NDCG@10 before the learning rate decays."""
    average_last: int = 0
    """At the end, average the weights of the last this-many epochs and keep the average if
    its validation NDCG@10 beats the best single epoch; 0 or 1 turns it off. Off by default:
    on Sports (seed 0) the mean of the last 6 validated no better than the best epoch."""
    windows: Literal["last", "all"] = "all"
    """Histories longer than max_len: train on the last window only, or on all of them."""
    seed: int = 42
    """Seed for initialisation, shuffling and dropout (bitwise repeatable on CPU)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train: `auto` uses CUDA when available."""
    threads: int | None = None
    """CPU threads for torch; unset = every core."""
    eval_batch_size: int = 1024
    """Users per batch in validation ranking."""
    progress: bool = True
    """Show a tqdm progress bar per epoch."""
    tensorboard: bool = True
    """Write TensorBoard scalars under `<out_dir>/tensorboard`."""


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


@dataclass
class TrainConfig:
    """Everything `train` needs besides the data: `[model]` and `[train]` sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """Architecture."""
    train: FitConfig = field(default_factory=FitConfig)
    """Training loop."""


_RANGES: dict[str, tuple[str, Any]] = {
    "model.dim": ("positive", 1),
    "model.n_layers": ("positive", 1),
    "model.n_heads": ("positive", 1),
    "model.dropout": ("fraction", None),
    "model.attn_dropout": ("fraction", None),
    "model.max_len": ("positive", 1),
    "model.max_len_cap": ("positive", 1),
    "model.members": ("positive", 1),
    "model.temperature": ("above zero", None),
    "train.n_negatives": ("positive", 1),
    "train.batch_size": ("positive", 1),
    "train.lr": ("above zero", None),
    "train.weight_decay": ("at least zero", None),
    "train.warmup_steps": ("at least zero", None),
    "train.grad_clip": ("at least zero", None),
    "train.max_epochs": ("positive", 1),
    "train.patience": ("positive", 1),
    "train.lr_decay": ("decay factor", None),
    "train.lr_patience": ("positive", 1),
    "train.average_last": ("at least zero", None),
    "train.threads": ("positive", 1),
    "train.eval_batch_size": ("positive", 1),
}


def _check_range(key: str, value: Any) -> None:
    rule = _RANGES.get(key)
    if rule is None or value is None:
        return
    ok = {
        "positive": value >= 1,
        "fraction": 0.0 <= value < 1.0,
        "above zero": value > 0,
        "at least zero": value >= 0,
        "decay factor": 0.0 < value <= 1.0,
    }[rule[0]]
    if not ok:
        expected = {"fraction": "in [0, 1)", "decay factor": "in (0, 1]"}.get(rule[0], rule[0])
        raise ConfigError(f"{key}: must be {expected}, got {value!r}")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """`value` as the annotated type, or ConfigError naming `key`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _coerce(key, value, inner)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {list(allowed)}, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {annotation!r} for {key}")


T = TypeVar("T")


def section_from_dict(cls: type[T], data: dict[str, Any], prefix: str) -> T:
    """Build the dataclass `cls` from a dict, validating every key; `prefix` names the section."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a table of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}.{unknown[0]} (known in [{prefix}]: {', '.join(names)})"
        )
    values = {}
    for name, value in data.items():
        key = f"{prefix}.{name}"
        values[name] = _coerce(key, value, hints[name])
        _check_range(key, values[name])
    try:
        return cls(**values)
    except ValueError as err:
        raise ConfigError(f"[{prefix}]: {err}") from err


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A validated `TrainConfig` from nested dicts (as TOML or JSON gives them)."""
    unknown = [k for k in data if k not in ("model", "train")]
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r} (known: model, train)")
    config = TrainConfig(
        model=section_from_dict(ModelConfig, data.get("model", {}), "model"),
        train=section_from_dict(FitConfig, data.get("train", {}), "train"),
    )
    if config.model.dim % config.model.n_heads:
        raise ConfigError("model.n_heads: must divide model.dim")
    if config.model.members > 1 and config.model.scoring != "cosine":
        # Served as one cosine over the members' joined unit vectors (engine/interest.py).
        raise ConfigError(
            "model.members: an ensemble needs model.scoring = cosine "
            "(set model.members = 1 for one dot-product model)"
        )
    return config


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML config; missing keys keep their defaults."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return config_from_dict(data)


def _parse_value(raw: str) -> Any:
    """A `--set` value: TOML syntax (64, 1e-3, true, "x"), `none` for unset, else a bare string."""
    text = raw.strip()
    if text.lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """A new config with `section.key=value` overrides applied, e.g. ["train.lr=1e-3"]."""
    data = config_to_dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"override {item!r}: expected section.key=value, e.g. train.lr=1e-3")
        section, name = parts
        if section not in data:
            raise ConfigError(f"unknown config key {key} (sections: model, train)")
        if name not in data[section]:
            known = ", ".join(data[section])
            raise ConfigError(f"unknown config key {key} (known in [{section}]: {known})")
        data[section][name] = _parse_value(raw)
    return config_from_dict(data)
