"""Top-k lists from any scorer, with the same candidate rules as `evaluate`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attune.evaluation._ranking import exclusion_mask, top_k
from attune.evaluation._scorer import Scorer, as_score_array

NO_ITEM = -1
"""Fills a list when the user has fewer than k candidate items left."""


def recommend(
    scorer: Scorer,
    users: np.ndarray,
    histories: Sequence[np.ndarray],
    n_items: int,
    *,
    k: int = 10,
    exclude_seen: bool = True,
) -> np.ndarray:
    """int64 [B, min(k, n_items)] best items first; `NO_ITEM` where candidates ran out."""
    users = np.asarray(users, dtype=np.int64)
    scores = as_score_array(scorer.score(users, histories), len(users), n_items)
    excluded = exclusion_mask(histories, None, n_items) if exclude_seen else None
    items, valid = top_k(scores, k, excluded)
    return np.where(valid, items, NO_ITEM)
