"""The interface every item index implements, so the engine can swap exact and ANN retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ItemIndex(Protocol):
    """Cosine top-k retrieval over item vectors keyed by internal item id.

    Vectors are L2-normalised on the way in, so inner product is cosine. Search results are
    `(ids[B, k], scores[B, k])`, best first, padded with id -1 and score -inf where fewer
    than k items qualify.

    Filtering contract (both implementations, one shared test suite): a returned item is
    live, allowed by `allowed` (a boolean mask indexed by item id; ids past its end count
    as not allowed) and not in that query's `exclude` array. When at least k items qualify,
    exactly k are returned: approximate indexes over-fetch, search again with more effort
    and the filter inside the search, and answer what is still short with an exact masked
    search, so filters never shorten a list.

    Pass rules shared by many requests as `allowed` (read-only masks let indexes reuse
    work) and a user's own removals (seen, hidden) as `exclude`.
    """

    @property
    def dim(self) -> int:
        """Vector dimensionality."""
        ...

    def __len__(self) -> int:
        """Number of live (searchable) items."""
        ...

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Replace the contents with `vectors[N, D]` for `ids` (default 0..N-1)."""
        ...

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add new items or replace the vectors of known ones; searchable on return."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Make items unsearchable; unknown ids are ignored."""
        ...

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean per id: whether it is live in the index."""
        ...

    def ids(self) -> np.ndarray:
        """All live item ids (no particular order)."""
        ...

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored (normalised) vectors of live items; KeyError for unknown ids."""
        ...

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per query row of `queries[B, D]` under the filtering contract above."""
        ...


def check_search_args(
    queries: np.ndarray,
    k: int,
    dim: int,
    allowed: np.ndarray | None,
    exclude: Sequence[np.ndarray] | None,
) -> None:
    """Shared argument checks, so both indexes reject the same mistakes the same way."""
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must have shape [B, {dim}], got {queries.shape}")
    if k < 0:
        raise ValueError("k must be non-negative")
    if allowed is not None and (allowed.ndim != 1 or allowed.dtype != np.bool_):
        raise ValueError("allowed must be a 1-D boolean mask over item ids")
    if exclude is not None and len(exclude) != len(queries):
        raise ValueError(f"exclude has {len(exclude)} entries for {len(queries)} queries")
