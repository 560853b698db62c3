"""Every port of the in-memory backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.data.vocab import Vocabulary
from attune.ports import LEARN_GROUP, KeyRecord, PartitionTrim, PopularityCounts, StoreCounts
from attune.ranking.popularity import PopularityConfig
from attune.schemas.experiments import Experiment
from attune.stores.assemble import tokens_to_attributes
from attune.stores.feed import PositionFeed, refuse_trim
from attune.stores.memory.catalogue import MemoryCatalogue, MemoryProfiles
from attune.stores.memory.events import MemoryEventLog
from attune.stores.memory.export import to_dataset
from attune.stores.memory.impressions import MemoryImpressions
from attune.stores.popularity import SnapshotPopularity
from attune.stores.state import MemoryUserStateStore


class MemoryKeyStore:
    """`KeyStore` in a list."""

    def __init__(self) -> None:
        self._keys: list[KeyRecord] = []
        self._required = False
        self._changes = 0

    def load(self) -> Sequence[KeyRecord]:
        return list(self._keys)

    def add(self, record: KeyRecord) -> None:
        self._keys.append(record)
        self._required = True
        self._changes += 1

    def auth_required(self) -> bool:
        return self._required

    def set_auth_required(self, required: bool) -> None:
        self._required = required
        self._changes += 1

    def remove(self, key_id: str) -> bool:
        kept = [k for k in self._keys if k.id != key_id]
        removed = len(kept) < len(self._keys)
        self._keys, self._changes = kept, self._changes + removed
        return removed

    def version(self) -> str:
        return str(self._changes)


class MemoryModelPointer:
    """`ModelPointer` in memory."""

    def __init__(self) -> None:
        self._history: list[int] = []
        self._experiment: Experiment | None = None

    def current(self) -> int | None:
        return self._history[-1] if self._history else None

    def history(self) -> list[int]:
        return list(self._history)

    def set_current(self, version: int) -> None:
        if self.current() != version:
            self._history.append(version)

    def set_history(self, history: list[int]) -> None:
        self._history = list(history)

    def experiment(self) -> Experiment | None:
        return self._experiment

    def set_experiment(self, experiment: Experiment | None) -> None:
        self._experiment = experiment


class MemoryStorage:
    """The in-memory backend; one object is one deployment's storage."""

    single_process = True

    def __init__(self) -> None:
        self.url = "memory://"
        self.users, self.items = Vocabulary(), Vocabulary()
        self.events = MemoryEventLog(self.users, self.items)
        self.catalogue = MemoryCatalogue(self.items)
        self.profiles = MemoryProfiles(self.users)
        self.impressions = MemoryImpressions(self.events)
        self.states = MemoryUserStateStore()
        self.keys = MemoryKeyStore()
        self._pointers: dict[Path, MemoryModelPointer] = {}
        self._rotations: set[str] = set()
        self._meta: dict[str, object] = {}

    def event_types(self) -> EventTypes:
        return self.events.event_types()

    def import_dataset(self, dataset: Dataset, *, progress: bool = True) -> int:
        self.events.ensure_event_types(dataset.event_types)
        self._meta.setdefault("name", dataset.name)
        self._meta.setdefault("has_timestamps", dataset.has_timestamps)
        self._meta.setdefault(
            "fields", (dataset.item_attributes.fields, dataset.user_attributes.fields)
        )
        users = self.users.encode(dataset.users.ids)
        items = self.items.encode(dataset.items.ids)
        _copy_attributes(dataset, users, items, self.catalogue, self.profiles)
        inter = dataset.interactions
        return self.events.append_rows(
            list(
                zip(
                    users[inter.users].tolist(),
                    items[inter.items].tolist(),
                    inter.event_types.tolist(),
                    inter.timestamps.tolist(),
                    inter.values.astype(np.float64).tolist(),
                    strict=True,
                )
            ),
            None if inter.event_ids is None else inter.event_ids.tolist(),
        )

    def to_dataset(self, *, events: bool = True) -> Dataset:
        return to_dataset(self, self._meta, events=events)

    def counts(self) -> StoreCounts:
        return StoreCounts(len(self.users), len(self.items), self.events.count())

    def erase_user(self, user_id: str) -> dict[str, int]:
        idx = self.users.get(user_id)
        if idx < 0:
            return {"events": 0, "attributes": 0, "impressions": 0}
        with self.events.lock:
            removed = {
                "events": self.events.erase_user(idx),
                "attributes": self.profiles.erase_user_attributes(idx),
                "impressions": self.impressions.erase_user(idx),
            }
            self.users.rename(idx, f"\x00erased:{idx}")
        return removed

    def rekey_users(self, rotation: str, rekey: Callable[[str], str]) -> int:
        """`Storage.rekey_users`, under the log's lock."""
        with self.events.lock:
            if rotation in self._rotations:
                return 0
            renamed = [
                (idx, rekey(old))
                for idx, old in enumerate(self.users.ids)
                if not old.startswith("\x00")
            ]
            for idx, new in renamed:
                self.users.rename(idx, new)
            self._rotations.add(rotation)
        return len(renamed)

    def popularity(
        self, n_items: int, half_life_seconds: float, head_size: int
    ) -> PopularityCounts:
        config = PopularityConfig(half_life_seconds=half_life_seconds, head_size=head_size)
        return SnapshotPopularity(n_items, config, None)

    def model_pointer(self, registry: Path) -> MemoryModelPointer:
        return self._pointers.setdefault(Path(registry), MemoryModelPointer())

    def start_maintenance(self) -> None:
        """Nothing to maintain in memory."""

    def learning_feed(
        self, group: str = LEARN_GROUP, consumer: str = "learner", claim_idle_s: float = 60.0
    ) -> PositionFeed:
        """Position based: one writer logs seqs in commit order."""
        return PositionFeed(self.events)

    def trim_log(self, older_than: float, group: str = LEARN_GROUP) -> list[PartitionTrim]:
        return refuse_trim("memory")

    def close(self) -> None:
        """Nothing to release: the data lives as long as this object."""

    def __enter__(self) -> MemoryStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_attributes(
    dataset: Dataset,
    users: np.ndarray,
    items: np.ndarray,
    catalogue: MemoryCatalogue,
    profiles: MemoryProfiles,
) -> None:
    ids = dataset.item_attributes.tokens.ids
    for r in range(dataset.item_attributes.n_rows):
        attrs = dict(tokens_to_attributes([ids[t] for t in dataset.item_attributes.row(r)]))
        if r in dataset.item_titles:
            attrs["title"] = dataset.item_titles[r]
        catalogue.attributes[int(items[r])] = attrs  # {} for a row without any, as SQLite
    for r, title in dataset.item_titles.items():
        catalogue.attributes.setdefault(int(items[r]), {"title": title})
    ids = dataset.user_attributes.tokens.ids
    for r in range(dataset.user_attributes.n_rows):
        attrs = dict(tokens_to_attributes([ids[t] for t in dataset.user_attributes.row(r)]))
        profiles.attributes[int(users[r])] = attrs
