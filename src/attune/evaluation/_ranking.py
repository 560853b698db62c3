"""Pure, vectorized ranking arithmetic over one batch of score rows.

Everything here works on numpy arrays of shape [B, n_items] and knows nothing of models,
files or users' identities. Ranks are 1-based: rank 1 is the top of the list.

Tie rule (pessimistic): the target's rank is 1 + the number of candidate items that score
strictly higher + the number of *other* candidate items that score exactly the same. A model
that gives many items the same score therefore gets no credit for the tie; in particular a
constant scorer ranks every target last, not first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def exclusion_mask(
    histories: Sequence[np.ndarray], targets: np.ndarray | None, n_items: int
) -> np.ndarray:
    """Boolean [B, n_items], True where an item is removed from the candidates.

    The history items are removed, except the target itself when targets are given: a user
    who comes back to an item must still be able to hit it.
    """
    batch = len(histories)
    mask = np.zeros((batch, n_items), dtype=bool)
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=batch)
    if lengths.sum() > 0:
        rows = np.repeat(np.arange(batch), lengths)
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
        mask[rows, cols] = True
    if targets is not None:
        mask[np.arange(batch), targets] = False
    return mask


def target_ranks(
    scores: np.ndarray, targets: np.ndarray, excluded: np.ndarray | None
) -> np.ndarray:
    """1-based rank of each row's target among its candidates, ties counted against it."""
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    higher = scores > target_scores
    tied = scores == target_scores
    if excluded is not None:
        higher &= ~excluded
        tied &= ~excluded
    # `tied` counts the target itself (never excluded), which supplies the +1 of a 1-based rank.
    return (higher.sum(axis=1) + tied.sum(axis=1)).astype(np.int64)


def top_k(scores: np.ndarray, k: int, excluded: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The k best items per row, best first, and a mask of which entries are real candidates.

    A partial selection (`torch.topk`, O(n) per row): on CPU it is several times faster than
    numpy's argpartition and, unlike it, does not slow down on rows full of equal scores
    (popularity counts, sparse item-kNN rows). Equal scores are ordered arbitrarily. When a
    row has fewer than k candidates, the trailing entries are excluded items, with `valid`
    False there.
    """
    k = min(k, scores.shape[1])
    masked = scores if excluded is None else np.where(excluded, -np.inf, scores)
    _, index = torch.from_numpy(np.ascontiguousarray(masked)).topk(k, dim=1, sorted=True)
    items = index.numpy()
    if excluded is None:
        valid = np.ones(items.shape, dtype=bool)
    else:
        valid = ~np.take_along_axis(excluded, items, axis=1)
    return items, valid


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k with one relevant item: 1/log2(rank + 1) inside the top k, else 0."""
    gains = 1.0 / np.log2(ranks.astype(np.float64) + 1.0)
    return np.where(ranks <= k, gains, 0.0)


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    """1/rank over the full ranking (no cutoff)."""
    return 1.0 / ranks.astype(np.float64)


def item_counts(items: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item index occurs: the popularity used for `popularity@k`."""
    return np.bincount(np.asarray(items, dtype=np.int64), minlength=n_items).astype(np.float64)
