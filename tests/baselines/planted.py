"""A planted-structure dataset: users stay inside one item cluster, popular items dominate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attune.data.dataset import Interactions


@dataclass(frozen=True)
class Planted:
    n_users: int
    n_items: int
    train: Interactions
    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray
    cluster_of_item: np.ndarray


def make_planted(
    seed: int = 0, n_users: int = 300, n_clusters: int = 8, per_cluster: int = 10, per_user: int = 5
) -> Planted:
    rng = np.random.default_rng(seed)
    n_items = n_clusters * per_cluster
    # Clusters and items within a cluster are Zipf-popular, so training counts carry signal too.
    cluster_p = 1.0 / np.arange(1, n_clusters + 1)
    cluster_p /= cluster_p.sum()
    weights = 1.0 / np.arange(1, per_cluster + 1)
    weights /= weights.sum()
    users, items, times, histories, targets = [], [], [], [], []
    for u in range(n_users):
        cluster = rng.choice(n_clusters, p=cluster_p)
        seq = cluster * per_cluster + rng.choice(
            per_cluster, size=per_user, replace=False, p=weights
        )
        histories.append(seq[:-1].astype(np.int64))
        targets.append(seq[-1])
        users.extend([u] * (per_user - 1))
        items.extend(seq[:-1].tolist())
        times.extend(range(per_user - 1))
    train = Interactions.sorted_by_time(
        np.array(users), np.array(items), np.array(times, np.float64)
    )
    return Planted(
        n_users,
        n_items,
        train,
        np.arange(n_users),
        histories,
        np.array(targets, np.int64),
        np.arange(n_items) // per_cluster,
    )
