"""Training windows and length-bucketed batches.

A user's training sequence becomes one (or, for long histories, several) windows of at most
`max_len` events with the next event as the target at every position, so one forward pass
trains every prefix. Batches group windows of similar length, so a batch is only as wide as its
longest window: on Amazon data (median 6 events) this skips most of the padding to max_len.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from attune.data.dataset import Interactions


@dataclass(frozen=True)
class UserSequences:
    """Per-user items and event-type codes in time order (internal indices)."""

    items: list[np.ndarray]
    event_types: list[np.ndarray]

    @staticmethod
    def from_interactions(interactions: Interactions, n_users: int) -> UserSequences:
        order = np.argsort(interactions.users, kind="stable")  # stable keeps time order
        bounds = np.concatenate(
            [[0], np.cumsum(np.bincount(interactions.users, minlength=n_users))]
        )
        items = interactions.items[order].astype(np.int64)
        codes = interactions.event_types[order].astype(np.int64)
        return UserSequences(
            [items[bounds[u] : bounds[u + 1]] for u in range(n_users)],
            [codes[bounds[u] : bounds[u + 1]] for u in range(n_users)],
        )

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.items), dtype=np.int64, count=len(self.items))


@dataclass(frozen=True)
class Batch:
    """One training batch on the target device; model indices (0 = padding / no target)."""

    items: Tensor
    event_types: Tensor
    targets: Tensor
    users: np.ndarray


@dataclass(frozen=True)
class TrainingWindows:
    """Right-padded windows, one row each: inputs, next-item targets, event types, owner."""

    items: np.ndarray
    """[W, max_len] model indices of the inputs."""
    targets: np.ndarray
    """[W, max_len] model index of the next item at each position (0 = none)."""
    event_types: np.ndarray
    """[W, max_len] event-type codes of the inputs."""
    users: np.ndarray
    """[W] internal user index of each window."""
    lengths: np.ndarray
    """[W] real events in each window."""

    def __len__(self) -> int:
        return len(self.users)

    @staticmethod
    def build(
        sequences: UserSequences,
        max_len: int,
        windows: Literal["last", "all"] = "all",
        min_target: np.ndarray | None = None,
    ) -> TrainingWindows:
        """Cut each sequence of n >= 2 events into windows of <= max_len inputs, newest first.

        Window inputs are s[start:end] and targets s[start+1:end+1]; with `windows="all"`
        consecutive windows tile the whole sequence, so every event is a target exactly once.
        With `min_target`, user u keeps only the windows whose targets reach position
        `min_target[u]` (fine-tuning on the events since a point, with their context).
        """
        spans: list[tuple[int, int, int]] = []
        for user, seq in enumerate(sequences.items):
            for end in range(len(seq) - 1, 0, -max_len):
                if min_target is not None and end < min_target[user]:
                    break
                spans.append((user, max(0, end - max_len), end))
                if windows == "last":
                    break
        W = len(spans)
        items = np.zeros((W, max_len), np.int64)
        targets = np.zeros((W, max_len), np.int64)
        codes = np.zeros((W, max_len), np.int64)
        users = np.zeros(W, np.int64)
        lengths = np.zeros(W, np.int64)
        for row, (user, start, end) in enumerate(spans):
            n = end - start
            seq = sequences.items[user]
            items[row, :n] = seq[start:end] + 1
            targets[row, :n] = seq[start + 1 : end + 1] + 1
            codes[row, :n] = sequences.event_types[user][start:end]
            users[row], lengths[row] = user, n
        return TrainingWindows(items, targets, codes, users, lengths)

    def epoch_batches(self, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Window indices per batch: similar lengths together, batch order shuffled.

        Shuffling before a stable sort by length randomises which windows of equal length
        share a batch, so batches still differ from epoch to epoch.
        """
        perm = rng.permutation(len(self))
        by_length = perm[np.argsort(self.lengths[perm], kind="stable")]
        batches = [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, index: np.ndarray, device: torch.device) -> Batch:
        width = int(self.lengths[index].max())

        def take(a: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(a[index, :width])).to(device)

        return Batch(
            take(self.items), take(self.event_types), take(self.targets), self.users[index]
        )
