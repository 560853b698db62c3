"""Slot storage of item vectors and the exact masked search every index falls back on.

Vectors live in numbered slots; an item id points at its current slot. An index that cannot
change a vector in place (HNSW) appends a new slot and leaves the old one dead (a tombstone),
so the slot number doubles as the ANN library's label and never has to be remapped.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

_EPS = 1e-12
_SUBSETS_KEPT = 4
"""Gathered vector subsets kept for read-only masks (a category page's filter, say)."""
_SUBSET_MAX_ROWS = 200_000
"""Larger subsets are not kept (each costs rows * dim * 4 bytes)."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm as float32 (zero rows stay zero: they score 0 against all)."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, _EPS)


def check_vectors(vectors: np.ndarray, dim: int | None, what: str = "vectors") -> np.ndarray:
    """A 2-D finite float32 array with `dim` columns, L2-normalised; raises ValueError otherwise."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [n, dim], got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} have {x.shape[1]} dimensions, the index has {dim}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return normalise(x)


def check_ids(ids: np.ndarray | Sequence[int], n: int | None = None) -> np.ndarray:
    """Unique non-negative int64 ids (and `n` of them, when given)."""
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    if n is not None and len(arr) != n:
        raise ValueError(f"got {len(arr)} ids for {n} vectors")
    if len(arr) and arr.min() < 0:
        raise ValueError("item ids must be non-negative")
    if len(np.unique(arr)) != len(arr):
        raise ValueError("item ids must be unique within one call")
    return arr


def _grow(arr: np.ndarray, size: int, fill: object) -> np.ndarray:
    """`arr` with at least `size` rows, doubling so that appends are amortised O(1)."""
    if len(arr) >= size:
        return arr
    new_len = max(size, 2 * len(arr), 16)
    out = np.full((new_len, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


class VectorStore:
    """L2-normalised float32 vectors in slots, with item id <-> slot maps and liveness."""

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.dim = dim
        self.reset(np.empty((0, dim), np.float32), np.empty(0, np.int64))

    def reset(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Replace everything: slot s holds `vectors[s]` for item `ids[s]` (already checked)."""
        self._vecs = np.array(vectors, dtype=np.float32, copy=True)
        self._slot_item = ids.copy()
        self._alive = np.ones(len(ids), dtype=bool)
        self.n_slots = len(ids)
        self.n_alive = len(ids)
        self._item_slot = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, np.int64)
        self._item_slot[ids] = np.arange(len(ids))
        # Whether every live slot s holds item s, which lets item masks apply to slots as is.
        self._identity = bool(np.array_equal(ids, np.arange(len(ids))))
        # Read-only item mask (by identity) -> its eligible slots and their gathered vectors;
        # cleared by every change to the store.
        self._subsets: OrderedDict[int, tuple[weakref.ref[np.ndarray], np.ndarray, np.ndarray]]
        self._subsets = OrderedDict()

    @property
    def n_dead(self) -> int:
        return self.n_slots - self.n_alive

    def slots_of(self, ids: np.ndarray) -> np.ndarray:
        """Current slot of each item id, -1 for ids not stored (or removed)."""
        ids = np.asarray(ids, np.int64)
        out = np.full(len(ids), -1, np.int64)
        known = (ids >= 0) & (ids < len(self._item_slot))
        out[known] = self._item_slot[ids[known]]
        return out

    def live_ids(self) -> np.ndarray:
        return self._slot_item[: self.n_slots][self._alive[: self.n_slots]]

    def slot_items(self, slots: np.ndarray) -> np.ndarray:
        return self._slot_item[slots]

    def slot_alive(self, slots: np.ndarray) -> np.ndarray:
        return self._alive[slots]

    def slot_vectors(self, slots: np.ndarray) -> np.ndarray:
        return self._vecs[slots]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        slots = self.slots_of(ids)
        if (slots < 0).any():
            missing = np.asarray(ids)[slots < 0][:5].tolist()
            raise KeyError(f"items not in the index: {missing}")
        return self._vecs[slots].copy()

    def kill(self, ids: np.ndarray) -> int:
        """Mark the items' slots dead; returns how many were live. Unknown ids are ignored."""
        slots = self.slots_of(ids)
        slots = slots[slots >= 0]
        if len(slots):
            self._subsets.clear()
        self._alive[slots] = False
        self._item_slot[self._slot_item[slots]] = -1
        self.n_alive -= len(slots)
        return len(slots)

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Put the vectors in new slots (old slots of these ids die); returns the new slots."""
        self.kill(ids)
        self._subsets.clear()
        start, end = self.n_slots, self.n_slots + len(ids)
        self._vecs = _grow(self._vecs, end, 0.0)
        self._slot_item = _grow(self._slot_item, end, -1)
        self._alive = _grow(self._alive, end, False)
        if len(ids):
            self._item_slot = _grow(self._item_slot, int(ids.max()) + 1, -1)
        slots = np.arange(start, end)
        self._identity = self._identity and bool(np.array_equal(ids, slots))
        self._vecs[slots] = vectors
        self._slot_item[slots] = ids
        self._alive[slots] = True
        self._item_slot[ids] = slots
        self.n_slots, self.n_alive = end, self.n_alive + len(ids)
        return slots

    def overwrite(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Update known items in place and append new ones (for indexes without a graph)."""
        slots = self.slots_of(ids)
        known = slots >= 0
        self._subsets.clear()
        self._vecs[slots[known]] = vectors[known]
        if (~known).any():
            self.append(ids[~known], vectors[~known])

    def eligible_slots(self, allowed: np.ndarray | None) -> np.ndarray:
        """Boolean mask over used slots: live, and allowed by the item mask when one is given.

        Items whose id is beyond the end of `allowed` are not allowed: a mask that does not
        cover an item cannot have approved it.
        """
        n = self.n_slots
        ok = self._alive[:n].copy()
        if allowed is None:
            return ok
        if self._identity:  # slot s holds item s: no gather needed (the common case)
            m = min(n, len(allowed))
            ok[:m] &= allowed[:m]
            ok[m:] = False
            return ok
        items = self._slot_item[:n]
        inside = items < len(allowed)
        ok &= inside
        ok[inside] &= allowed[items[inside]]
        return ok

    def exact_search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exclude: Sequence[np.ndarray] | None = None,
        eligible: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by inner product over eligible slots; pads with -1 / -inf.

        `queries` must already be normalised; `eligible` is `eligible_slots(allowed)` when the
        caller has it already. When the mask leaves few slots only those are scored, which
        makes the exact path cheap exactly when filtered ANN search struggles.
        """
        if eligible is None:
            eligible = self.eligible_slots(allowed)
        n_eligible = int(np.count_nonzero(eligible))
        n_b = len(queries)
        out_ids = np.full((n_b, k), -1, np.int64)
        out_scores = np.full((n_b, k), -np.inf, np.float32)
        if n_eligible == 0 or k == 0:
            return out_ids, out_scores
        subset = n_eligible < 0.5 * self.n_slots
        if subset:
            candidates, matrix = self._subset(allowed, eligible)
            scores = inner_products(queries, matrix)  # [B, n_eligible]
        else:
            scores = inner_products(queries, self._vecs[: self.n_slots])  # [B, n_slots]
            scores[:, ~eligible] = -np.inf
        for b in range(n_b):
            if exclude is not None and len(exclude[b]):
                ex = self.slots_of(np.asarray(exclude[b], np.int64))
                ex = ex[ex >= 0]
                scores[b, _positions(candidates, ex) if subset else ex] = -np.inf
        if n_b == 1:
            top_cols, top_scores = top_k_row(scores[0], k)
            top_cols, top_scores = top_cols[None], top_scores[None]
        else:
            top_cols, top_scores = top_k_rows(scores, k)
        slots = candidates[top_cols] if subset else top_cols
        valid = np.isfinite(top_scores)
        kk = top_cols.shape[1]
        out_ids[:, :kk] = np.where(valid, self._slot_item[slots], -1)
        out_scores[:, :kk] = np.where(valid, top_scores, -np.inf)
        return out_ids, out_scores

    def _subset(
        self, allowed: np.ndarray | None, eligible: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Eligible slots and their vectors, reused for the same read-only mask.

        Gathering the rows costs several times more than scoring them: a narrow filter that
        many requests share (a category page) pays the gather once.
        """
        key = None
        if allowed is not None and not allowed.flags.writeable:
            key = id(allowed)
            hit = self._subsets.get(key)
            if hit is not None and hit[0]() is allowed:
                self._subsets.move_to_end(key)
                return hit[1], hit[2]
        candidates = np.flatnonzero(eligible)
        # take() gathers rows faster than fancy indexing.
        matrix = self._vecs.take(candidates, axis=0)
        if key is not None and len(candidates) <= _SUBSET_MAX_ROWS:
            for old_key in [k for k, v in self._subsets.items() if v[0]() is None]:
                del self._subsets[old_key]  # masks that no longer exist
            self._subsets[key] = (weakref.ref(allowed), candidates, matrix)  # type: ignore[arg-type]
            if len(self._subsets) > _SUBSETS_KEPT:
                self._subsets.popitem(last=False)
        return candidates, matrix


_serial_blas = False
"""Whether `serial_blas` has limited numpy's BLAS to one thread in this process."""


def serial_blas() -> None:
    """Limit numpy's BLAS to one thread for the rest of the process (a server's engine does,
    with `threads = 1`): a served query then goes through BLAS, with no second thread to wait
    for, which is faster than the einsum pass `inner_products` uses otherwise."""
    global _serial_blas
    threadpool_limits(limits=1, user_api="blas")
    _serial_blas = True


def inner_products(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`queries @ matrix.T`, float32.

    A served request has one query: unless BLAS is serial (`serial_blas`), a single-threaded
    einsum pass serves it, as it never waits for a second BLAS thread on a busy core, which
    under load made one product many times slower. Batches use BLAS.
    """
    if 0 < len(queries) <= 4 and not _serial_blas:
        return np.stack([np.einsum("ij,j->i", matrix, row) for row in queries])
    return queries @ matrix.T


def _positions(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions in `sorted_values` of those `values` it contains."""
    pos = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return pos[sorted_values[pos] == values]


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries per row, best first.

    `argpartition` finds the k best in O(n) and only those k get sorted.
    """
    n = scores.shape[1]
    kk = min(k, n)
    if kk == 0:
        return np.empty((len(scores), 0), np.int64), np.empty((len(scores), 0), scores.dtype)
    if kk < n:
        part = np.argpartition(scores, n - kk, axis=1)[:, n - kk :]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    cols = np.take_along_axis(part, order, axis=1)
    return cols, np.take_along_axis(part_scores, order, axis=1)


_BLOCK = 64
"""Scores per block in `top_k_row`."""
_OFFSETS = np.arange(_BLOCK)


def top_k_row(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_k_rows` of a single row, by block maxima: the served request's case.

    `argpartition` over every score is most of a list's retrieval. The k best scores all lie
    in the k blocks of `_BLOCK` scores with the highest maxima (a block left out has k better
    maxima, each a distinct better score), so only those blocks are partitioned, a small
    fraction of the scores. The scores found are the reference's; among equal scores either may
    pick a different item (tests/retrieval/test_top_k.py).
    """
    n = len(scores)
    starts = np.arange(0, n, _BLOCK)
    n_blocks = len(starts)
    if k <= 0 or 4 * k > n_blocks:
        cols, values = top_k_rows(scores[None], k)
        return cols[0], values[0]
    maxima = np.maximum.reduceat(scores, starts)
    blocks = np.argpartition(maxima, n_blocks - k)[n_blocks - k :]
    cols = (blocks[:, None] * _BLOCK + _OFFSETS).ravel()
    if n % _BLOCK:
        cols = cols[cols < n]  # the last block is short
    sub = scores[cols]
    part = np.argpartition(sub, len(sub) - k)[len(sub) - k :]
    best = part[np.argsort(-sub[part], kind="stable")]
    return cols[best], sub[best]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over rows of |found ∩ truth| / |truth| (ignoring -1 padding in truth)."""
    hits, total = 0, 0
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0]
        hits += len(np.intersect1d(f, t))
        total += len(t)
    return hits / total if total else 1.0
