"""The interest model behind the `attune.evaluation.Scorer` protocol: full score rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from attune.data.dataset import AttributeTable
from attune.model.encoder import InterestEncoder, pad_histories


class EncoderScorer:
    """Scores every item for users given their item histories (event types are not known
    to the protocol, so every event counts as the first event type)."""

    def __init__(
        self, encoder: InterestEncoder, user_attributes: AttributeTable | None = None
    ) -> None:
        self.encoder = encoder.eval()
        self.user_attributes = user_attributes if encoder.config.n_user_tokens else None
        self._item_vecs: Tensor | None = None

    @torch.no_grad()
    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> Tensor:
        """[B, n_items] scores; a user with an empty history gets all zeros (no preference)."""
        enc = self.encoder
        device = enc.item_emb.weight.device
        if self._item_vecs is None:
            self._item_vecs = enc.item_vectors()
        out = torch.zeros(len(histories), enc.config.n_items, device=device)
        has = [i for i, h in enumerate(histories) if len(h) > 0]
        if not has:
            return out
        items = pad_histories([histories[i] for i in has], enc.config.max_len).to(device)
        bags = None
        if self.user_attributes is not None:
            table = self.user_attributes
            bags = [torch.from_numpy(table.row(int(users[i]))).to(device) for i in has]
        vecs = enc.user_vectors(items, None, bags)
        out[torch.tensor(has, device=device)] = enc.score(vecs, self._item_vecs).float()
        return out
