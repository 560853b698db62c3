"""Tiny datasets built in memory for model and trainer tests (never read from disk)."""

from __future__ import annotations

import numpy as np

from attune.data.dataset import AttributeTable, Dataset, Interactions
from attune.data.vocab import Vocabulary


def markov_dataset(
    n_users: int = 300,
    n_items: int = 50,
    min_len: int = 6,
    max_len: int = 14,
    seed: int = 0,
    attributes: bool = False,
    event_types: bool = False,
) -> Dataset:
    """Each user starts at a random item and follows one fixed permutation: next = perm[item].

    The next item is fully determined by the current one, so a sequential model can learn it
    exactly, while item popularity is flat and carries no signal.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_items)
    users, items, times, codes = [], [], [], []
    for u in range(n_users):
        item = int(rng.integers(n_items))
        for t in range(int(rng.integers(min_len, max_len + 1))):
            users.append(u)
            items.append(item)
            times.append(t)
            codes.append(int(rng.integers(2)) if event_types else 0)
            item = int(perm[item])
    interactions = Interactions.sorted_by_time(
        np.array(users), np.array(items), np.array(times, np.float64), np.array(codes)
    )
    item_attrs = (
        AttributeTable.from_rows([[f"group={i % 5}", f"parity={i % 2}"] for i in range(n_items)])
        if attributes
        else AttributeTable.empty()
    )
    user_attrs = (
        AttributeTable.from_rows([[f"segment={u % 3}"] for u in range(n_users)])
        if attributes
        else AttributeTable.empty()
    )
    return Dataset(
        name="markov",
        interactions=interactions,
        users=Vocabulary(f"u{u}" for u in range(n_users)),
        items=Vocabulary(f"i{i}" for i in range(n_items)),
        item_attributes=item_attrs,
        user_attributes=user_attrs,
    )
