"""In-memory, columnar view of a dataset: what importers produce and trainers consume.

Interactions are kept as parallel numpy arrays in internal ids, sorted by (time, input
order), so that per-user sequences, splits and streams are cheap slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attune.data.events import EventTypes
from attune.data.vocab import Vocabulary


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays, one row per interaction, sorted by timestamp (stable)."""

    users: np.ndarray
    """int64 internal user index."""
    items: np.ndarray
    """int64 internal item index."""
    timestamps: np.ndarray
    """float64 seconds since the epoch; for order-only sources, the position in the sequence."""
    event_types: np.ndarray
    """int16 code into `EventTypes.names`."""
    values: np.ndarray
    """float32 event value (e.g. rating); NaN where the event has none."""
    event_ids: np.ndarray | None = None
    """Object array of event ids (str, or None where a row has none), when the source gives
    them or an import assigns them; None: no row has one."""

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "timestamps", "event_types", "values", "event_ids"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValueError(f"interaction column {name!r} has a different length")

    def __len__(self) -> int:
        return len(self.users)

    def take(self, mask_or_index: np.ndarray) -> Interactions:
        """A subset of rows, keeping their order."""
        return Interactions(
            users=self.users[mask_or_index],
            items=self.items[mask_or_index],
            timestamps=self.timestamps[mask_or_index],
            event_types=self.event_types[mask_or_index],
            values=self.values[mask_or_index],
            event_ids=None if self.event_ids is None else self.event_ids[mask_or_index],
        )

    @staticmethod
    def sorted_by_time(
        users: np.ndarray,
        items: np.ndarray,
        timestamps: np.ndarray,
        event_types: np.ndarray | None = None,
        values: np.ndarray | None = None,
        event_ids: np.ndarray | None = None,
    ) -> Interactions:
        """Build from unsorted columns; ties keep input order, which is the source's order."""
        n = len(users)
        order = np.argsort(timestamps, kind="stable")
        et = np.zeros(n, np.int16) if event_types is None else np.asarray(event_types, np.int16)
        vals = np.full(n, np.nan, np.float32) if values is None else np.asarray(values, np.float32)
        return Interactions(
            users=np.asarray(users, np.int64)[order],
            items=np.asarray(items, np.int64)[order],
            timestamps=np.asarray(timestamps, np.float64)[order],
            event_types=et[order],
            values=vals[order],
            event_ids=None if event_ids is None else np.asarray(event_ids, object)[order],
        )


@dataclass(frozen=True)
class AttributeTable:
    """Categorical attribute tokens per entity, as CSR rows aligned with the entity vocabulary.

    Row r lists the token indices (into `tokens`) of the entity with internal index r. Rows
    beyond `len(indptr) - 1` (entities added later) have no attributes.
    """

    tokens: Vocabulary
    indptr: np.ndarray
    indices: np.ndarray
    fields: tuple[str, ...] = ()
    """Attribute field names present in the source, in source order."""

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def row(self, index: int) -> np.ndarray:
        if index >= self.n_rows:
            return np.empty(0, np.int64)
        return self.indices[self.indptr[index] : self.indptr[index + 1]]

    def tokens_of(self, index: int) -> list[str]:
        """The row's tokens as strings (none past the table's end)."""
        return self.tokens.decode(self.row(index))

    def token_rows(self) -> dict[int, list[str]]:
        """The tokens of every row that has some."""
        return {i: self.tokens_of(i) for i in range(self.n_rows) if len(self.row(i))}

    @staticmethod
    def from_rows(
        rows: list[list[str]], tokens: Vocabulary | None = None, fields: tuple[str, ...] = ()
    ) -> AttributeTable:
        vocab = tokens if tokens is not None else Vocabulary()
        indptr = np.zeros(len(rows) + 1, np.int64)
        flat: list[int] = []
        for r, row in enumerate(rows):
            # Duplicates within a row carry no extra information for an embedding bag.
            flat.extend(dict.fromkeys(vocab.add(t) for t in row))
            indptr[r + 1] = len(flat)
        return AttributeTable(vocab, indptr, np.asarray(flat, np.int64), fields)

    @staticmethod
    def empty() -> AttributeTable:
        return AttributeTable(Vocabulary(), np.zeros(1, np.int64), np.empty(0, np.int64))


@dataclass
class Dataset:
    """Everything an importer read: interactions, vocabularies, attributes and item metadata."""

    name: str
    interactions: Interactions
    users: Vocabulary
    items: Vocabulary
    event_types: EventTypes = field(default_factory=EventTypes)
    item_attributes: AttributeTable = field(default_factory=AttributeTable.empty)
    user_attributes: AttributeTable = field(default_factory=AttributeTable.empty)
    item_titles: dict[int, str] = field(default_factory=dict)
    """Display title per internal item index, where the source has one."""
    has_timestamps: bool = True
    """False when the source only gives order (timestamps are sequence positions)."""

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def sequences(self, interactions: Interactions | None = None) -> list[np.ndarray]:
        """Per-user item sequences in time order, indexed by internal user index."""
        return user_sequences(
            self.interactions if interactions is None else interactions, self.n_users
        )


def user_sequences(interactions: Interactions, n_users: int) -> list[np.ndarray]:
    """Group items by user, keeping time order; users without rows get an empty array."""
    order = np.argsort(interactions.users, kind="stable")  # stable keeps time order per user
    items = interactions.items[order]
    counts = np.bincount(interactions.users, minlength=n_users)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [items[bounds[u] : bounds[u + 1]] for u in range(n_users)]
