"""Which users each model version learned from, and which users the store has erased.

Per version, `users.npy` beside its `version.json`: the sorted store indices of every user
one of whose events the version, or any version it was fine-tuned from, trained on (a user's
influence outlives the round that trained on them: a child inherits its parent's set). A
version without the file (made before versions recorded it) may have seen anyone.

The store's record of erasures is the tombstone an erasure leaves in the user vocabulary
(`\\x00erased:<index>`): the internal index, never the raw id, which is gone. Training reads
its events through `without_erased_events` and `without_erased_windows`, so an event of an
erased user never reaches a batch even if some copy of it escaped the erasure.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from attune.data.dataset import Dataset
from attune.data.vocab import Vocabulary
from attune.learning.heldout import EventArrays
from attune.ports import IdVocabulary, Storage
from attune.schemas.records import RESERVED_ID_PREFIX
from attune.training.checkpoint import is_ensemble, member_dir
from attune.training.data import TrainingWindows

USERS_FILE = "users.npy"
ERASED_PREFIX = RESERVED_ID_PREFIX + "erased:"
"""Start of the tombstone an erasure leaves in place of a user's id."""


def erased_users(users: IdVocabulary) -> np.ndarray:
    """Sorted store indices of the erased users (those whose id is a tombstone)."""
    ids = users.ids
    return np.fromiter(
        (i for i, external in enumerate(ids) if external.startswith(ERASED_PREFIX)), np.int64
    )


def save_users(directory: Path, users: np.ndarray) -> None:
    """Write a version's user set (sorted, unique) into its directory, atomically."""
    tmp = directory / (USERS_FILE + ".tmp.npy")
    np.save(tmp, np.unique(np.asarray(users, np.int64)))
    os.replace(tmp, directory / USERS_FILE)


def load_users(directory: Path) -> np.ndarray | None:
    """A version's user set (None: not recorded), memory-mapped: a lookup reads few pages."""
    path = directory / USERS_FILE
    if not path.is_file():
        return None
    return np.load(path, mmap_mode="r")


def saw_any(users: np.ndarray | None, wanted: np.ndarray) -> bool:
    """Whether a user set (sorted) holds any of `wanted`; an unrecorded set (None) may."""
    if users is None:
        return True
    if not len(users) or not len(wanted):
        return False
    at = np.searchsorted(users, wanted)
    inside = at < len(users)
    return bool((users[at[inside]] == wanted[inside]).any())


def checkpoint_users(store: Storage, checkpoint: Path) -> np.ndarray:
    """The user set of a model trained outside the registry (`attune train`), as
    `attune models init --db` records it: every user with an event in the store's log, and
    every user of the model's vocabulary the store knows. A model trained on the store has
    the store's vocabulary, index for index, so a user erased since is still found: at their
    own index, which holds their tombstone now."""
    logged = np.unique(store.events.event_columns()[:, 1].astype(np.int64))
    first = member_dir(checkpoint, 0) if is_ensemble(checkpoint) else checkpoint
    model_ids = Vocabulary.load(first / "users.json").ids
    known = store.users
    found: list[int] = []
    for position, external in enumerate(model_ids):
        if external.startswith(RESERVED_ID_PREFIX):
            continue  # erased before the model was trained: it had no event then
        index = known.get(external)
        if index < 0 and position < len(known):
            tombstone = f"{ERASED_PREFIX}{position}"
            index = position if known.external(position) == tombstone else -1
        if index >= 0:
            found.append(index)
    return np.union1d(logged, np.asarray(found, np.int64))


def without_erased_events(events: EventArrays, erased: np.ndarray) -> EventArrays:
    """`events` less those of erased users (the log has deleted them already: this makes the
    exclusion hold for whatever path an event came by)."""
    if not len(erased):
        return events
    return events.select(np.flatnonzero(~np.isin(events.user, erased)))


def without_erased_windows(windows: TrainingWindows, erased: np.ndarray) -> TrainingWindows:
    """The training windows less those of erased users (a window holds one user's events)."""
    if not len(erased):
        return windows
    keep = ~np.isin(windows.users, erased)
    return TrainingWindows(
        *(getattr(windows, f.name)[keep] for f in dataclasses.fields(TrainingWindows))
    )


def without_erased_dataset(data: Dataset, erased: np.ndarray) -> Dataset:
    """`data` (a store's, indices are store indices) less the interactions of erased users."""
    if not len(erased):
        return data
    keep = ~np.isin(data.interactions.users, erased)
    return dataclasses.replace(data, interactions=data.interactions.take(keep))


__all__ = [
    "ERASED_PREFIX",
    "USERS_FILE",
    "checkpoint_users",
    "erased_users",
    "load_users",
    "save_users",
    "saw_any",
    "without_erased_dataset",
    "without_erased_events",
    "without_erased_windows",
]
