"""The one interface every model offers to evaluation: full score rows for a batch of users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    """Scores every item for a batch of users; higher is better.

    `users` are internal user indices (int64, shape [B]); `histories[b]` are the internal
    item indices user b has interacted with, in time order, which is all a sequential model
    needs and what a factor model may use to recompute the user's vector. The result is a
    float array [B, n_items] over internal item indices 0..n_items-1, either a numpy array
    or a torch tensor (any device, any float dtype).
    """

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> Any: ...


def as_score_array(scores: Any, batch: int, n_items: int) -> np.ndarray:
    """A scorer's output as a float32 numpy [batch, n_items] array, checked for shape and NaN."""
    if not isinstance(scores, np.ndarray) and hasattr(scores, "detach"):
        # A torch tensor: leave the graph, move to host, and widen bfloat16/half, which
        # numpy cannot hold or compares inexactly.
        scores = scores.detach().float().cpu().numpy()
    array = np.asarray(scores, dtype=np.float32)
    if array.shape != (batch, n_items):
        raise ValueError(f"scorer returned shape {array.shape}, expected {(batch, n_items)}")
    if np.isnan(array).any():
        raise ValueError("scorer returned NaN scores")
    return array
