"""The popularity port: time-decayed positive-event counts per item."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class PopularityCounts(Protocol):
    """Decayed counts of positive events per item (the popularity fallback and its filter)."""

    @property
    def n_items(self) -> int: ...

    def ensure_size(self, n_items: int) -> None: ...

    def add(self, item: int, timestamp: float, weight: float = 1.0) -> None: ...

    def add_many(
        self, items: np.ndarray, timestamps: np.ndarray, weights: np.ndarray | None = None
    ) -> None:
        """Count many events at once (weights default to 1): the same counts as `add` per
        event in order, in one round trip where the counts are shared."""
        ...

    def scores(self, now: float, items: np.ndarray | None = None) -> np.ndarray:
        """Decayed counts at time `now` (of `items`, or of every item)."""
        ...

    def top(
        self,
        k: int,
        now: float,
        *,
        allowed: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most popular items (ids, decayed scores) that are allowed and not excluded."""
        ...

    def save_snapshot(self, last_seq: int) -> None:
        """Persist the counts and the log position they reflect (a no-op where every update
        is already durable)."""
        ...

    def load_snapshot(self) -> int:
        """Replace the counts with the last snapshot's; its log position (0: none, counts
        empty)."""
        ...

    def discard_snapshot(self) -> None:
        """Drop the snapshot, so that the next restore counts the whole log (after an
        erasure, whose events the snapshot still counts)."""
        ...
