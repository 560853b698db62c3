"""Item-kNN: cosine similarity of items' user sets, summed over the user's history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from attune.baselines._matrix import TrainData, history_matrix, user_item_matrix


@dataclass(frozen=True)
class ItemKNNConfig:
    """Hyperparameters of item-kNN (one setting for every dataset)."""

    neighbours: int = 100
    """Similar items kept per item; the rest are set to zero (smaller = sparser, faster)."""
    min_similarity: float = 0.0
    """Similarities at or below this are dropped before keeping the top neighbours."""


class ItemKNN:
    """score(u, i) = sum over items j in u's history of cos(j, i), if i is among j's neighbours.

    Cosine is taken between the binary user columns of the items in the training matrix.
    Items never seen in training have no neighbours and score 0.
    """

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        self.config = config or ItemKNNConfig()
        self.similarity: sp.csr_matrix | None = None
        """items x items; row j holds j's top neighbours."""

    def fit(self, train: TrainData, n_users: int, n_items: int) -> ItemKNN:
        x = user_item_matrix(train, n_users, n_items).tocsc()
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        xn = (x @ sp.diags(inv.astype(np.float32))).tocsc()
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0.0)
        sim.data[sim.data <= self.config.min_similarity] = 0.0
        sim.eliminate_zeros()
        self.similarity = _keep_top_per_row(sim, self.config.neighbours)
        return self

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        if self.similarity is None:
            raise RuntimeError("fit the model before scoring")
        h = history_matrix(histories, self.similarity.shape[0])
        return np.asarray((h @ self.similarity).toarray(), dtype=np.float32)


def _keep_top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Zero all but the n largest entries of each row."""
    m = m.copy()
    m.sort_indices()
    for row in np.flatnonzero(np.diff(m.indptr) > n):
        lo, hi = m.indptr[row], m.indptr[row + 1]
        values = m.data[lo:hi]
        drop = np.argpartition(-values, n)[n:]
        values[drop] = 0.0
    m.eliminate_zeros()
    return m
