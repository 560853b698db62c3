"""Exact cosine retrieval: one matrix product and a partial sort. The reference path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attune.retrieval._protocol import check_search_args
from attune.retrieval._store import VectorStore, check_ids, check_vectors, normalise


class ExactIndex:
    """Brute-force top-k over all live items; exact, with in-place updates.

    Cost per query is one pass over N x D floats, linear in the catalogue, so it serves
    catalogues up to ~100k items directly and is the ground truth for ANN recall.
    """

    def __init__(self, dim: int) -> None:
        self._store = VectorStore(dim)

    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return self._store.n_alive

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        vecs = check_vectors(vectors, self.dim)
        item_ids = np.arange(len(vecs)) if ids is None else check_ids(ids, len(vecs))
        self._store.reset(vecs, item_ids)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vecs = check_vectors(vectors, self.dim)
        self._store.overwrite(check_ids(ids, len(vecs)), vecs)

    def remove(self, ids: np.ndarray) -> None:
        self._store.kill(np.asarray(ids, np.int64).reshape(-1))

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return self._store.slots_of(np.asarray(ids, np.int64).reshape(-1)) >= 0

    def ids(self) -> np.ndarray:
        return self._store.live_ids()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._store.vectors(np.asarray(ids, np.int64).reshape(-1))

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32)
        check_search_args(q, k, self.dim, allowed, exclude)
        return self._store.exact_search(normalise(q), k, allowed=allowed, exclude=exclude)
