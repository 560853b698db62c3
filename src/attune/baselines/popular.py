"""Most-popular: every user gets the items with the most training events."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attune.baselines._matrix import TrainData, user_item_pairs


class MostPopular:
    """Scores each item by its number of training events (repeats counted)."""

    def __init__(self) -> None:
        self.counts: np.ndarray | None = None

    def fit(self, train: TrainData, n_users: int, n_items: int) -> MostPopular:
        _, items = user_item_pairs(train, n_users)
        self.counts = np.bincount(items, minlength=n_items).astype(np.float32)
        return self

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("fit the model before scoring")
        # A real copy per row: callers may write into the scores (e.g. to mask items).
        return np.tile(self.counts, (len(users), 1))
