"""A trained model as an evaluation `Scorer`: batched V_u against every item vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attune.model.encoder import InterestEncoder, pad_histories
from attune.model.ensemble import Ensemble


class EncoderScorer:
    """Scores all items for a batch of histories (internal item indices) in one forward.

    Histories of users with no event get a zero score row (every item ties).
    """

    def __init__(self, encoder: InterestEncoder) -> None:
        self.encoder = encoder.eval()
        with torch.inference_mode():
            self._items = encoder.item_vectors().detach()

    @torch.inference_mode()
    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        n_items = self.encoder.config.n_items
        out = np.zeros((len(histories), n_items), np.float32)
        rows = [k for k, h in enumerate(histories) if len(h)]
        if rows:
            device = self._items.device
            items = pad_histories([histories[k] for k in rows], self.encoder.config.max_len)
            vecs = self.encoder.user_vectors(items.to(device))
            out[rows] = self.encoder.score(vecs, self._items).float().cpu().numpy()
        return out


class SummedScorer:
    """An ensemble's scorers as one: their scores summed (`Ensemble.score`).

    With cosine scores and one temperature, the sum ranks items as the cosine of the members'
    concatenated unit vectors does (tests/bench_peers/test_ensemble_probe.py).
    """

    def __init__(self, members: Sequence[EncoderScorer]) -> None:
        if not members:
            raise ValueError("SummedScorer needs at least one member")
        self.members = Ensemble(members)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return self.members.score(lambda member: member.score(users, histories))
