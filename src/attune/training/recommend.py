"""Top-k from a loaded checkpoint for one history: what `attune recommend` prints offline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attune.model.encoder import InterestEncoder, pad_histories
from attune.model.ensemble import Ensemble
from attune.training.checkpoint import LoadedModel


@torch.no_grad()
def recommend_offline(
    loaded: LoadedModel | Sequence[LoadedModel],
    history_items: Sequence[int],
    k: int = 10,
    *,
    exclude_seen: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best internal item indices for a history of internal item indices, with scores.

    Items in the history are not recommended again unless `exclude_seen` is False. Fewer than
    k items come back only when the catalogue minus the history is smaller than k. Several
    models (an ensemble's members) rank by their summed scores.
    """
    if len(history_items) == 0:
        raise ValueError("history_items is empty: the model needs at least one event")
    if k < 1:
        raise ValueError("k must be positive")
    models = Ensemble([loaded] if isinstance(loaded, LoadedModel) else loaded)
    encoders = models.map(lambda m: m.encoder)
    n_items = encoders.first.config.n_items
    history = np.asarray(history_items, dtype=np.int64)
    if history.min() < 0 or history.max() >= n_items:
        raise ValueError(f"history item index out of range [0, {n_items})")
    device = encoders.first.item_emb.weight.device

    def member_scores(enc: InterestEncoder) -> torch.Tensor:
        items = pad_histories([history], enc.config.max_len).to(device)
        return enc.score(enc.user_vectors(items), enc.item_vectors())[0].float()

    scores = encoders.score(member_scores)
    if exclude_seen:
        scores[torch.from_numpy(np.unique(history)).to(device)] = float("-inf")
    k = min(k, n_items - (len(np.unique(history)) if exclude_seen else 0))
    top = torch.topk(scores, k)
    return top.indices.cpu().numpy(), top.values.cpu().numpy()
