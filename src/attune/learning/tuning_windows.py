"""The training data of a fine-tuning round: every window of the users with new events (their
older events as context), plus `replay` times as many windows of other users, so the model
does not forget what it knew (catastrophic forgetting)."""

from __future__ import annotations

import dataclasses

import numpy as np

from attune.data.dataset import Interactions
from attune.learning.heldout import EventArrays
from attune.training.data import TrainingWindows, UserSequences


def tuning_windows(
    head: EventArrays,
    start: int,
    max_len: int,
    replay: float,
    rng: np.random.Generator,
) -> TrainingWindows:
    """The windows of `head` (the log up to the held-out events) whose events from `start` on
    are new, and the replayed ones (users drawn with `rng`)."""
    n_users = int(head.user.max()) + 1 if len(head) else 0
    interactions = Interactions(
        users=head.user,
        items=head.item,
        timestamps=head.time,
        event_types=head.event_type.astype(np.int16),
        values=head.value.astype(np.float32),
    )
    sequences = UserSequences.from_interactions(interactions, n_users)
    lengths = sequences.lengths()
    touched = np.unique(head.user[start:])
    # Position of each touched user's first new event in their sequence: their windows from
    # there on are trained (with the older events before them as context).
    new_per_user = np.bincount(head.user[start:], minlength=n_users)
    min_target = np.full(n_users, np.iinfo(np.int64).max)
    min_target[touched] = lengths[touched] - new_per_user[touched]
    others = np.setdiff1d(np.flatnonzero(lengths >= 2), touched)
    recent = TrainingWindows.build(sequences, max_len, "all", min_target)
    n_replay = min(len(others), round(replay * len(recent)))
    replayed = np.sort(rng.choice(others, n_replay, replace=False)) if n_replay else others[:0]
    only = np.full(n_users, np.iinfo(np.int64).max)
    only[replayed] = 0
    old = TrainingWindows.build(sequences, max_len, "last", only)
    return _concat(recent, old)


def _concat(a: TrainingWindows, b: TrainingWindows) -> TrainingWindows:
    return TrainingWindows(
        *(np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in dataclasses.fields(a))
    )


__all__ = ["tuning_windows"]
