"""Training data as the one orientation every baseline uses: a binary users x items CSR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from attune.data.dataset import Interactions

TrainData = Interactions | Sequence[np.ndarray]
"""Either interactions in internal ids or per-user item sequences indexed by user."""


def user_item_pairs(train: TrainData, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of every training event, repeats kept."""
    if isinstance(train, Interactions):
        return train.users.astype(np.int64), train.items.astype(np.int64)
    if len(train) > n_users:
        raise ValueError(f"{len(train)} sequences for {n_users} users")
    lengths = np.fromiter((len(s) for s in train), dtype=np.int64, count=len(train))
    users = np.repeat(np.arange(len(train), dtype=np.int64), lengths)
    items = (
        np.concatenate([np.asarray(s, np.int64) for s in train])
        if lengths.sum()
        else np.empty(0, np.int64)
    )
    return users, items


def binary_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """1.0 where a (row, col) pair occurs at least once; repeats do not add up."""
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def user_item_matrix(train: TrainData, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary users x items matrix of the training data."""
    users, items = user_item_pairs(train, n_users)
    return binary_matrix(users, items, (n_users, n_items))


def history_matrix(histories: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary [B, n_items] matrix, row b marking the items of `histories[b]`."""
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    rows = np.repeat(np.arange(len(histories), dtype=np.int64), lengths)
    cols = (
        np.concatenate([np.asarray(h, np.int64) for h in histories])
        if lengths.sum()
        else np.empty(0, np.int64)
    )
    return binary_matrix(rows, cols, (len(histories), n_items))
