"""One deployment's storage: every port of one backend, opened together from a URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, Self

from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.ports.catalogue import ItemCatalogue, UserProfiles
from attune.ports.events import EventLog
from attune.ports.feed import LEARN_GROUP, LearningFeed, PartitionTrim
from attune.ports.impressions import ImpressionLog
from attune.ports.keys import KeyStore
from attune.ports.pointer import ModelPointer
from attune.ports.popularity import PopularityCounts
from attune.ports.state import UserStateStore
from attune.ports.vocab import IdVocabulary


class Durability(StrEnum):
    """How hard an acknowledged write works to reach the disk."""

    FULL = "full"
    """Flushed to disk on every commit: survives a killed process and a power cut."""
    NORMAL = "normal"
    """Flushed at checkpoints: survives a killed process; a power cut may lose the last
    commits."""


@dataclass(frozen=True)
class StoreCounts:
    """How many users, items and events a storage holds."""

    users: int
    items: int
    events: int


class StorageError(RuntimeError):
    """The storage cannot be opened or used (bad URL, unreadable or newer-schema database)."""


class Storage(Protocol):
    """The ports of one backend (`attune.stores.open_storage(url)` builds it)."""

    @property
    def url(self) -> str: ...

    @property
    def users(self) -> IdVocabulary: ...

    @property
    def items(self) -> IdVocabulary: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def catalogue(self) -> ItemCatalogue: ...

    @property
    def profiles(self) -> UserProfiles: ...

    @property
    def states(self) -> UserStateStore: ...

    @property
    def impressions(self) -> ImpressionLog: ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def single_process(self) -> bool:
        """True when one process must own the storage (the embedded backend)."""
        ...

    def event_types(self) -> EventTypes:
        """The event types the data was logged with (the defaults for an empty store)."""
        ...

    def import_dataset(self, dataset: Dataset, *, progress: bool = True) -> int:
        """Bulk-load a dataset (ids, attributes, titles, events) in one atomic unit; returns
        how many events were added. Rows with event ids are idempotent as in `EventLog`: one
        whose id its user already has (logged, or earlier in the dataset) is skipped."""
        ...

    def to_dataset(self, *, events: bool = True) -> Dataset:
        """Everything stored as an in-memory `Dataset` (training and inspection)."""
        ...

    def counts(self) -> StoreCounts: ...

    def start_maintenance(self) -> None:
        """Start the background upkeep a long-running server wants (WAL checkpoints of the
        embedded backend); a no-op where there is none."""
        ...

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Erase a user's events, impressions and attributes in one atomic unit; the id
        becomes a tombstone. Returns the counts removed (`events`, `attributes`,
        `impressions`), and, from a backend with files that may still hold the erased data
        for a while, `files_cleared` (1: they no longer do; 0: not yet)."""
        ...

    def rekey_users(self, rotation: str, rekey: Callable[[str], str]) -> int:
        """Replace every stored user id except erased users' tombstones by `rekey(id)` (a
        pseudonym key rotation, docs/privacy.md), keeping every index; how many ids changed.
        Applied once per `rotation` name: a rerun of a finished rotation changes nothing, and
        one interrupted resumes (atomic where the backend has transactions). Other processes'
        cached vocabularies are stale afterwards: run it with the servers stopped."""
        ...

    def popularity(
        self, n_items: int, half_life_seconds: float, head_size: int
    ) -> PopularityCounts:
        """The popularity counts of this deployment (in-process for the embedded backend, where
        the engine rebuilds them from the log; shared where several servers count)."""
        ...

    def model_pointer(self, registry: Path) -> ModelPointer:
        """The current-version pointer of the model registry at `registry`."""
        ...

    def learning_feed(
        self, group: str = LEARN_GROUP, consumer: str = "learner", claim_idle_s: float = 60.0
    ) -> LearningFeed:
        """The learning job's reader of the log (`LearningFeed`): `consumer` names this
        process in the group, and another consumer's unacknowledged events are taken over
        once idle for `claim_idle_s` (a store with one writer ignores both)."""
        ...

    def trim_log(self, older_than: float, group: str = LEARN_GROUP) -> list[PartitionTrim]:
        """`LogRetention.trim_log`: the oldest events removed, per partition, within every
        bound; `StorageError` where the log cannot be trimmed safely."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
