"""Time-decayed popularity, updated per event in O(1): the cold-start fallback.

A count decays by half every `half_life_seconds`. Instead of decaying every item on every
event, each event adds `weight * 2**((t - t_ref) / half_life)` to the item's stored value:
growing the new weight is the same as shrinking all old ones, and ranking is unchanged.
When that factor nears float64 overflow, all values are rescaled once to a new reference
time (O(N), every ~500 half-lives), so long runs stay finite.

A head of the `head_size` most popular items is kept exact at every event (an item enters
when it passes the head's minimum), so a top-k query sorts the head, not the catalogue.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_RESCALE_EXPONENT = 500.0
"""Rescale once the growth factor reaches 2**500 (float64 overflows past 2**1023)."""


def event_columns(
    items: np.ndarray, timestamps: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items (int64), times and weights (float64, 1 when not given) of a batch of events;
    `ValueError` for a negative or non-finite weight."""
    ids = np.asarray(items, np.int64)
    ts = np.asarray(timestamps, np.float64)
    w = np.ones(len(ids)) if weights is None else np.asarray(weights, np.float64)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("popularity weights must be finite and non-negative")
    return ids, ts, w


class PopularityConfig(BaseModel):
    """How fast popularity forgets."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    half_life_seconds: float = Field(7 * 86_400.0, gt=0.0)
    """Time for an event's weight to halve."""
    head_size: int = Field(1_000, ge=1)
    """Most popular items kept sorted-ready; top-k queries with k below it skip a full scan."""


class DecayedPopularity:
    """Per-item decayed event weight; `top` returns the most popular allowed items."""

    def __init__(
        self, n_items: int = 0, config: PopularityConfig | None = None, start_time: float = 0.0
    ) -> None:
        self.config = config or PopularityConfig()
        self._values = np.zeros(n_items, np.float64)
        self._t_ref = float(start_time)
        self._head = np.empty(0, np.int64)
        self._in_head = np.zeros(n_items, dtype=bool)
        self._head_min = 0.0

    @property
    def n_items(self) -> int:
        return len(self._values)

    def ensure_size(self, n_items: int) -> None:
        """Make room for items added at runtime (they start at zero)."""
        if n_items > len(self._values):
            grow = n_items - len(self._values)
            self._values = np.concatenate([self._values, np.zeros(grow)])
            self._in_head = np.concatenate([self._in_head, np.zeros(grow, dtype=bool)])

    def add(self, item: int, timestamp: float, weight: float = 1.0) -> None:
        """Record one event (weight >= 0); events may arrive slightly out of order."""
        if weight < 0 or not math.isfinite(weight):
            raise ValueError("popularity weight must be finite and non-negative")
        self.ensure_size(item + 1)
        exponent = (timestamp - self._t_ref) / self.config.half_life_seconds
        if exponent > _RESCALE_EXPONENT:
            self._rescale(timestamp)
            exponent = 0.0
        self._values[item] += weight * 2.0**exponent
        self._update_head(item)

    def add_many(
        self, items: np.ndarray, timestamps: np.ndarray, weights: np.ndarray | None = None
    ) -> None:
        """Many events (a bulk load, an ingest batch): same result as `add` per row, vectorised."""
        items, ts, w = event_columns(items, timestamps, weights)
        if len(items) == 0:
            return
        self.ensure_size(int(items.max()) + 1)
        latest = float(ts.max())
        if (latest - self._t_ref) / self.config.half_life_seconds > _RESCALE_EXPONENT:
            self._rescale(latest)
        gains = w * np.exp2((ts - self._t_ref) / self.config.half_life_seconds)
        np.add.at(self._values, items, gains)
        touched = np.unique(items)
        if len(touched) >= self.config.head_size:
            self._rebuild_head()
            return
        for item in touched.tolist():  # a few items (an ingest batch): no pass over all items
            self._update_head(item)

    def counts(self) -> tuple[float, np.ndarray]:
        """(reference time, a copy of the per-item counts at it): everything `restore` needs."""
        return self._t_ref, self._values.copy()

    def restore(self, t_ref: float, values: np.ndarray) -> None:
        """Replace the counts with ones taken by `counts` (from this config's half-life)."""
        self._t_ref = float(t_ref)
        self._values = np.asarray(values, np.float64).copy()
        self._in_head = np.zeros(len(self._values), dtype=bool)
        self._rebuild_head()

    def scores(self, now: float, items: np.ndarray | None = None) -> np.ndarray:
        """Decayed weight at `now` (events after `now` count at full weight times their lead)."""
        factor = 2.0 ** ((self._t_ref - now) / self.config.half_life_seconds)
        vals = self._values if items is None else self._values[np.asarray(items, np.int64)]
        return vals * factor

    def top(
        self,
        k: int,
        now: float,
        *,
        allowed: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most popular items (ids, decayed scores) that are allowed and not excluded.

        Items past the end of `allowed` are not allowed. Items never seen score 0 and still
        qualify, so a caller gets k items whenever k items are allowed.
        """
        if allowed is not None:
            self.ensure_size(len(allowed))  # catalogue items without events yet score 0
        ex = np.empty(0, np.int64) if exclude is None else np.asarray(exclude, np.int64)
        # The head answers most calls with O(head_size) work: no pass over the catalogue.
        head = self._head
        if allowed is not None:
            head = head[head < len(allowed)]
            head = head[allowed[head]]
        head = head[~np.isin(head, ex)]
        if len(head) >= k:
            ids = head[np.argsort(-self._values[head], kind="stable")[:k]]
            return ids, self.scores(now, ids)
        # Every item outside the head scores at most the head's minimum, but too few head
        # items passed the filter: rank all that pass.
        ok = np.ones(self.n_items, dtype=bool)
        if allowed is not None:
            ok[len(allowed) :] = False
            ok[: len(allowed)] &= allowed
        ok[ex[(ex >= 0) & (ex < self.n_items)]] = False
        cand = np.flatnonzero(ok)
        kk = min(k, len(cand))
        part = np.argpartition(-self._values[cand], kk - 1)[:kk] if kk else cand[:0]
        ids = cand[part][np.argsort(-self._values[cand[part]], kind="stable")]
        return ids, self.scores(now, ids)

    def _rescale(self, new_ref: float) -> None:
        self._values *= 2.0 ** ((self._t_ref - new_ref) / self.config.half_life_seconds)
        self._t_ref = new_ref
        self._head_min = float(self._values[self._head].min()) if len(self._head) else 0.0

    def _update_head(self, item: int) -> None:
        if self._in_head[item]:
            return
        size = self.config.head_size
        if len(self._head) < size:
            self._head = np.append(self._head, item)
            self._in_head[item] = True
            self._head_min = float(self._values[self._head].min())
            return
        if self._values[item] <= self._head_min:
            return
        # The cached minimum may be stale-low (head items only grow); evict the true minimum.
        pos = int(np.argmin(self._values[self._head]))
        if self._values[item] > self._values[self._head[pos]]:
            self._in_head[self._head[pos]] = False
            self._head[pos] = item
            self._in_head[item] = True
        self._head_min = float(self._values[self._head].min())

    def _rebuild_head(self) -> None:
        size = min(self.config.head_size, self.n_items)
        nonzero = np.flatnonzero(self._values > 0)
        if len(nonzero) > size:
            nonzero = nonzero[np.argpartition(-self._values[nonzero], size - 1)[:size]]
        self._head = nonzero
        self._in_head[:] = False
        self._in_head[nonzero] = True
        self._head_min = float(self._values[nonzero].min()) if len(nonzero) else 0.0
