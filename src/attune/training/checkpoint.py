"""Checkpoints: a directory of plain files, never a pickled object.

    model.pt               encoder state_dict (tensors only; torch.load(weights_only=True))
    config.json            format version, encoder config, train config, metrics
    items.json users.json  item / user vocabularies (external ids in internal-index order)
    item_tokens.json       item attribute token vocabulary; item_attributes.npz its CSR
    user_tokens.json       user attribute token vocabulary; user_attributes.npz its CSR
    event_types.json       the event types whose codes the model embeds
    trainer_state.pt       (training only) optimizer state and loop counters, for resume

An ensemble (`model.members` > 1) is a directory holding `members.json` and one such
checkpoint per member (`member-0/`, `member-1/`, ...), all over the same item vocabulary.

Every file is written to a temporary name and renamed into place, so an interrupted save never
leaves a half-written file behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attune.data.dataset import AttributeTable
from attune.data.events import EventTypes
from attune.data.vocab import Vocabulary
from attune.model.encoder import EncoderConfig, InterestEncoder
from attune.training.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    validate,
)

FORMAT_VERSION = 1
"""Bumped whenever a checkpoint written by an older version can no longer be read."""
TRAINER_STATE = "trainer_state.pt"
MEMBERS_FILE = "members.json"


class CheckpointError(Exception):
    """A checkpoint directory is missing, corrupt or incompatible with this version."""


@dataclass
class LoadedModel:
    """A trained model ready to score: encoder in eval mode plus what maps ids to indices."""

    encoder: InterestEncoder
    encoder_config: EncoderConfig
    train_config: TrainConfig
    items: Vocabulary
    users: Vocabulary
    item_attributes: AttributeTable
    user_attributes: AttributeTable
    event_types: EventTypes
    metrics: dict[str, float] = field(default_factory=dict)
    """Validation metrics of the saved model (best epoch), when it came from `train`."""


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_attributes(directory: Path, prefix: str, table: AttributeTable) -> None:
    _atomic_write(directory / f"{prefix}_tokens.json", table.tokens.save)

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f, indptr=table.indptr.astype(np.int64), indices=table.indices.astype(np.int64)
            )

    _atomic_write(directory / f"{prefix}_attributes.npz", write_npz)


def save_checkpoint(
    directory: str | Path,
    encoder: InterestEncoder,
    train_config: TrainConfig,
    *,
    items: Vocabulary,
    users: Vocabulary,
    item_attributes: AttributeTable,
    user_attributes: AttributeTable,
    event_types: EventTypes,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write everything needed to score with `encoder` into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    _atomic_write(directory / "model.pt", lambda p: torch.save(state, p))
    _atomic_write(directory / "items.json", items.save)
    _atomic_write(directory / "users.json", users.save)
    _save_attributes(directory, "item", item_attributes)
    _save_attributes(directory, "user", user_attributes)
    _atomic_write(
        directory / "event_types.json",
        lambda p: p.write_text(event_types.model_dump_json(), encoding="utf-8"),
    )
    meta = {
        "format": FORMAT_VERSION,
        "encoder": dataclasses.asdict(encoder.config),
        "train": config_to_dict(train_config),
        "item_attribute_fields": list(item_attributes.fields),
        "user_attribute_fields": list(user_attributes.fields),
        "metrics": metrics or {},
    }
    _atomic_write(
        directory / "config.json",
        lambda p: p.write_text(json.dumps(meta, indent=2), encoding="utf-8"),
    )
    return directory


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory} is missing {name}")
    return path


def _load_attributes(directory: Path, prefix: str, fields: list[str]) -> AttributeTable:
    tokens = Vocabulary.load(_require(directory, f"{prefix}_tokens.json"))
    with np.load(_require(directory, f"{prefix}_attributes.npz"), allow_pickle=False) as z:
        indptr, indices = z["indptr"], z["indices"]
    if len(indptr) == 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise CheckpointError(f"checkpoint {directory}: {prefix}_attributes.npz is not a CSR table")
    if len(indices) and (indices.min() < 0 or indices.max() >= len(tokens)):
        raise CheckpointError(f"checkpoint {directory}: {prefix} attribute token out of range")
    return AttributeTable(tokens, indptr, indices, tuple(fields))


def _load_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_require(directory, "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint {directory}: config.json is corrupt: {err}") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {directory}: config.json is corrupt")
    version = meta.get("format")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {directory} has format {version!r}; this Attune reads {FORMAT_VERSION}"
        )
    return meta


def member_dir(directory: str | Path, k: int) -> Path:
    """Where member k of an ensemble checkpoint lives."""
    return Path(directory) / f"member-{k}"


def is_ensemble(directory: str | Path) -> bool:
    return (Path(directory) / MEMBERS_FILE).is_file()


def save_members(directory: str | Path, count: int, metrics: dict[str, float]) -> None:
    """Mark `directory`, whose `member-k/` checkpoints are written, as an ensemble of them."""
    meta = {
        "format": FORMAT_VERSION,
        "members": [member_dir(directory, k).name for k in range(count)],
        "metrics": metrics,
    }
    _atomic_write(
        Path(directory) / MEMBERS_FILE,
        lambda p: p.write_text(json.dumps(meta, indent=2), encoding="utf-8"),
    )


def load_members(directory: str | Path, device: str | torch.device = "cpu") -> list[LoadedModel]:
    """The models of a checkpoint: its members for an ensemble, else the one model."""
    directory = Path(directory)
    if not is_ensemble(directory):
        return [load_checkpoint(directory, device)]
    try:
        meta = json.loads((directory / MEMBERS_FILE).read_text(encoding="utf-8"))
        names = meta["members"]
        ok = meta.get("format") == FORMAT_VERSION and isinstance(names, list) and names
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"checkpoint {directory}: {MEMBERS_FILE} is corrupt: {err}") from err
    if not ok or not all(isinstance(n, str) and "/" not in n and n != ".." for n in names):
        raise CheckpointError(f"checkpoint {directory}: {MEMBERS_FILE} is corrupt")
    members = [load_checkpoint(directory / name, device) for name in names]
    if any(m.items.ids != members[0].items.ids for m in members[1:]):
        raise CheckpointError(f"checkpoint {directory}: its members have different item ids")
    return members


def ensemble_metrics(directory: str | Path) -> dict[str, float]:
    """The validation metrics `save_members` recorded for an ensemble ({} when unreadable)."""
    try:
        meta = json.loads((Path(directory) / MEMBERS_FILE).read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in meta.get("metrics", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read a checkpoint written by `save_checkpoint`; the encoder comes back in eval mode."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    if is_ensemble(directory):
        raise CheckpointError(
            f"checkpoint {directory} is an ensemble of several models ({MEMBERS_FILE}); "
            "read it with load_members"
        )
    meta = _load_meta(directory)
    try:
        encoder_config = validate(EncoderConfig, meta.get("encoder", {}), "encoder")
        train_config = config_from_dict(meta.get("train", {}))
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {directory} has an incompatible config: {err}") from err
    try:
        items = Vocabulary.load(_require(directory, "items.json"))
        users = Vocabulary.load(_require(directory, "users.json"))
        item_attrs = _load_attributes(directory, "item", meta.get("item_attribute_fields", []))
        user_attrs = _load_attributes(directory, "user", meta.get("user_attribute_fields", []))
        event_types = EventTypes.model_validate_json(
            _require(directory, "event_types.json").read_text(encoding="utf-8")
        )
    except (ValueError, OSError) as err:
        raise CheckpointError(f"checkpoint {directory} is corrupt: {err}") from err
    if len(items) != encoder_config.n_items:
        raise CheckpointError(
            f"checkpoint {directory}: items.json has {len(items)} items, "
            f"the model {encoder_config.n_items}"
        )
    try:
        state = torch.load(_require(directory, "model.pt"), map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {directory}: model.pt is corrupt: {err}") from err
    attrs = (item_attrs.indptr, item_attrs.indices) if encoder_config.n_item_tokens else None
    encoder = InterestEncoder(encoder_config, attrs)
    try:
        encoder.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"checkpoint {directory}: model.pt does not match its config: {err}"
        ) from err
    encoder.to(device).eval()
    metrics = {str(k): float(v) for k, v in meta.get("metrics", {}).items()}
    return LoadedModel(
        encoder,
        encoder_config,
        train_config,
        items,
        users,
        item_attrs,
        user_attrs,
        event_types,
        metrics,
    )


def save_trainer_state(directory: Path, state: dict[str, Any]) -> None:
    """Optimizer state, loop counters and the latest weights (tensors and numbers only)."""
    _atomic_write(directory / TRAINER_STATE, lambda p: torch.save(state, p))


def load_trainer_state(directory: Path) -> dict[str, Any]:
    path = _require(directory, TRAINER_STATE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"checkpoint {directory}: {TRAINER_STATE} is corrupt: {err}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {directory}: {TRAINER_STATE} has an unknown format")
    return state
