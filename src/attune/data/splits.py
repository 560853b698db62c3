"""Deterministic splits: leave-one-out, global temporal, and the time-ordered tail as a stream.

All splits take time-sorted `Interactions` and return subsets that keep that order, so a
user's events stay in sequence inside every part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attune.data.dataset import Interactions


@dataclass(frozen=True)
class LeaveOneOut:
    """Per user: last event -> test, second last -> validation, the rest -> train.

    A user with one event has it in test only; with two, one in validation and one in test.
    """

    train: Interactions
    valid: Interactions
    test: Interactions


def _rank_from_end(users: np.ndarray) -> np.ndarray:
    """For each row, how many later rows the same user has (0 for the user's last row)."""
    n = len(users)
    order = np.argsort(users, kind="stable")  # groups users, keeps time order inside each
    sorted_users = users[order]
    starts = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    counts = np.bincount(sorted_users)
    pos_in_group = np.arange(n) - group_start
    rank = np.empty(n, np.int64)
    rank[order] = counts[sorted_users] - 1 - pos_in_group
    return rank


def leave_one_out(interactions: Interactions) -> LeaveOneOut:
    """Split the last event of each user into test and the one before into validation."""
    rank = _rank_from_end(interactions.users)
    return LeaveOneOut(
        train=interactions.take(rank >= 2),
        valid=interactions.take(rank == 1),
        test=interactions.take(rank == 0),
    )


@dataclass(frozen=True)
class TemporalSplit:
    """Everything before the cutoff trains; everything at or after it is replayed in order."""

    cutoff: float
    train: Interactions
    stream: Interactions


def temporal_split(
    interactions: Interactions, *, cutoff: float | None = None, fraction: float | None = None
) -> TemporalSplit:
    """Split by a global cutoff time, or at the given fraction of events (by time order).

    With `fraction`, the cut falls at an event index; ties at the cut all go to the stream so
    that no test event shares a timestamp with a later training event.
    """
    if (cutoff is None) == (fraction is None):
        raise ValueError("give exactly one of cutoff= or fraction=")
    ts = interactions.timestamps
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        if len(ts) == 0:
            return TemporalSplit(0.0, interactions, interactions)
        cutoff = float(ts[min(int(len(ts) * fraction), len(ts) - 1)])
    assert cutoff is not None
    # `interactions` is time sorted, so the cut is one index.
    cut = int(np.searchsorted(ts, cutoff, side="left"))
    idx = np.arange(len(ts))
    return TemporalSplit(cutoff, interactions.take(idx < cut), interactions.take(idx >= cut))
