"""Online A/B tests in the engine: which arm a user is in, and the challenger model served
beside the current one.

A user's arm is a stable hash of the experiment id and the user id, so a user keeps one arm
for the whole experiment, on every server, without anything stored per user; a new
experiment (a new id) draws the arms afresh.

The challenger is served without touching the user states: they hold the control's V_u
(one vector per user, in every backend and on a shared store). The challenger's V_u is
computed on demand from the same state's window with the challenger's model (one forward,
as a per-event refresh costs) and cached per user until the window changes; the challenger
has an item index of its own, kept in step with the catalogue by `ItemSide`. Its cost: the
challenger's weights and a second item index in memory, and one forward per challenger list
whose user's window changed since that user's last list.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch

from attune.engine.interest import Explanation, InterestModel
from attune.engine.state import UserState
from attune.schemas.experiments import Arm, Experiment


def assign_arm(experiment_id: str, user_id: str, share: float) -> Arm:
    """The user's arm: challenger when the SHA-256 of (experiment id, user id), read as a
    number in [0, 1), falls under `share`."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{user_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2.0**64
    return "challenger" if bucket < share else "control"


class ChallengerArm:
    """A running experiment's challenger: its model and V_u per user on demand (the item
    index it ranks with lives in `ItemSide.challenger_index`)."""

    def __init__(self, experiment: Experiment, model: InterestModel, cache_users: int) -> None:
        self.experiment = experiment
        self.model = model
        self.cache_users = cache_users
        self._vectors: OrderedDict[int, tuple[bytes, tuple[np.ndarray, Explanation] | None]]
        self._vectors = OrderedDict()
        """Per user: (`window_key` of the state and the user's attribute tokens, the
        challenger's V_u and attention)."""

    def arm(self, user_id: str) -> Arm:
        return assign_arm(self.experiment.id, user_id, self.experiment.share)

    def user_vector(
        self, user: int, state: UserState, tokens: torch.Tensor
    ) -> tuple[np.ndarray, Explanation] | None:
        """The challenger's V_u of a known user and its attention; None when the window holds
        no item the challenger knows. Call under the engine lock."""
        key = state.window_key() + tokens.numpy().tobytes()
        hit = self._vectors.get(user)
        if hit is not None and hit[0] == key:
            self._vectors.move_to_end(user)
            return hit[1]
        result = self.model.user_vectors([state], [tokens])[0] if len(state.items) else None
        if self.cache_users > 0:
            self._vectors[user] = (key, result)
            self._vectors.move_to_end(user)
            while len(self._vectors) > self.cache_users:
                self._vectors.popitem(last=False)
        return result

    def forget(self, user: int) -> None:
        """Drop a user's cached vector (erasure)."""
        self._vectors.pop(user, None)
