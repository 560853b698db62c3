"""Turn a split into what `evaluate` ranks: users, the histories they show, and targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from attune.data.dataset import Interactions, user_sequences
from attune.data.splits import LeaveOneOut


@dataclass(frozen=True)
class RankingTask:
    """One held-out target per user, with the history the scorer may see."""

    users: np.ndarray
    """int64 internal user indices, ascending."""
    histories: list[np.ndarray]
    """Per user, the items before the target in time order."""
    targets: np.ndarray
    """int64 held-out item per user."""

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, n: int, seed: int = 0) -> RankingTask:
        """A seeded random sample of `n` users (all of them when n >= len), e.g. for fast
        per-epoch validation."""
        if n >= len(self):
            return self
        pick = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return RankingTask(self.users[pick], [self.histories[i] for i in pick], self.targets[pick])


def leave_one_out_task(
    split: LeaveOneOut, n_users: int, stage: Literal["valid", "test"] = "test"
) -> RankingTask:
    """The validation task (history = train) or the test task (history = train + valid).

    Each user appears at most once per stage (leave-one-out holds out one event per user and
    stage); users without a held-out event in `stage` are left out.
    """
    held_out: Interactions = split.test if stage == "test" else split.valid
    train_seqs = user_sequences(split.train, n_users)
    if stage == "test":
        valid_seqs = user_sequences(split.valid, n_users)
        seqs = [np.concatenate([t, v]) for t, v in zip(train_seqs, valid_seqs, strict=True)]
    else:
        seqs = train_seqs
    order = np.argsort(held_out.users, kind="stable")
    users = held_out.users[order].astype(np.int64)
    targets = held_out.items[order].astype(np.int64)
    return RankingTask(users, [seqs[u] for u in users], targets)
