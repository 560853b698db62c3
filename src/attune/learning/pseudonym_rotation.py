"""A pseudonym key rotation: the stored user ids, and the user vocabularies of checkpoints,
re-keyed under a new key by one more HMAC (docs/privacy.md, `attune users rotate-key`).

Raw ids are never stored, so a rotation cannot recompute pseudonyms from them: it chains.
Every step is applied once per rotation (named by the new key's fingerprint) and may be run
again after an interruption: the store records the rotations it applied (in the transaction
or batch that renames), and each checkpoint `users.rotations.json` beside its `users.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from attune.data.pseudonyms import fingerprint, rekey
from attune.data.vocab import Vocabulary
from attune.ports import Storage

ROTATIONS_FILE = "users.rotations.json"
"""Beside a checkpoint's `users.json`: the rotations its ids were re-keyed by, oldest first."""


@dataclass(frozen=True)
class RotationReport:
    """What one rotation changed."""

    rotation: str
    """The new key's fingerprint: the rotation's name."""
    store_ids: int
    """User ids re-keyed in the store (0: already done by an earlier run)."""
    checkpoints: list[Path]
    """`users.json` files re-keyed (those done by an earlier run are left out)."""


def rotate(store: Storage, new_key: bytes, model_dirs: list[Path]) -> RotationReport:
    """Re-key the store's user ids, then every checkpoint vocabulary under `model_dirs`
    (registries or checkpoint directories, searched for `users.json`)."""
    rotation = fingerprint(new_key)
    renamed = store.rekey_users(rotation, partial(rekey, new_key))
    done = [
        path
        for directory in model_dirs
        for path in sorted(Path(directory).rglob("users.json"))
        if rotate_checkpoint_users(path, new_key)
    ]
    return RotationReport(rotation, renamed, done)


def rotate_checkpoint_users(users_file: Path, new_key: bytes) -> bool:
    """Re-key one checkpoint's user vocabulary, once per rotation; whether it changed.

    The old file is kept as `users.json.before-<rotation>` until the rotation is recorded,
    so an interrupted run recomputes from it instead of re-keying twice; it is removed last.
    """
    rotation = fingerprint(new_key)
    marker = users_file.with_name(ROTATIONS_FILE)
    applied = _read_rotations(marker)
    if rotation in applied:
        return False
    before = users_file.with_name(f"{users_file.name}.before-{rotation}")
    if not before.exists():
        _write_text(before, users_file.read_text(encoding="utf-8"))
    old = Vocabulary.load(before)
    _write_text(users_file, Vocabulary([rekey(new_key, u) for u in old.ids]).to_json())
    _write_text(marker, json.dumps({"rotations": [*applied, rotation]}))
    before.unlink()
    return True


def _read_rotations(marker: Path) -> list[str]:
    try:
        return list(json.loads(marker.read_text(encoding="utf-8"))["rotations"])
    except FileNotFoundError:
        return []


def _write_text(path: Path, text: str) -> None:
    """Replace `path` atomically and durably (a crash leaves the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
