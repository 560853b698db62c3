"""Validation during training: full-ranking HR@k and NDCG@k over every item, on the device.

The rules are those of `attune.evaluation` (the reference used for reported numbers): the
user's seen items are removed from the candidates except the target itself, and ties count
against the target. Doing it in torch keeps per-epoch validation on the GPU when training runs
there; a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from attune.data.dataset import Interactions
from attune.model.encoder import InterestEncoder, pad_histories
from attune.model.ensemble import Ensemble, summed_scores
from attune.training.data import UserSequences


@dataclass(frozen=True)
class ValidationSet:
    """Users with a held-out target and a non-empty history before it."""

    users: np.ndarray
    histories: list[np.ndarray]
    """Full history per user (all of it is excluded from the candidates)."""
    event_types: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    @staticmethod
    def build(held_out: Interactions, history: UserSequences) -> ValidationSet:
        users, targets = held_out.users.astype(np.int64), held_out.items.astype(np.int64)
        # A user without history has no interest vector yet; the serving fallbacks cover them.
        keep = np.fromiter((len(history.items[u]) > 0 for u in users), bool, count=len(users))
        users, targets = users[keep], targets[keep]
        return ValidationSet(
            users,
            [history.items[u] for u in users],
            [history.event_types[u] for u in users],
            targets,
        )


def _user_bags(bags: list[Tensor] | None, users: np.ndarray) -> list[Tensor] | None:
    return None if bags is None else [bags[u] for u in users]


def _scores(
    model: InterestEncoder,
    item_vecs: Tensor,
    histories: list[np.ndarray],
    event_types: list[np.ndarray],
    bags: list[Tensor] | None,
) -> Tensor:
    """One model's scores of every item for a batch of histories ([B, N], float32)."""
    device = item_vecs.device
    items = pad_histories(histories, model.config.max_len).to(device)
    codes = pad_histories(event_types, model.config.max_len, offset=0).to(device)
    return model.score(model.user_vectors(items, codes, bags), item_vecs).float()


@torch.no_grad()
def rank_targets(
    model: InterestEncoder | Ensemble[InterestEncoder],
    data: ValidationSet,
    *,
    batch_size: int = 1024,
    user_bags: list[Tensor] | None = None,
) -> np.ndarray:
    """1-based rank of each user's target among all items minus the user's seen items.

    An ensemble ranks by its summed scores."""
    models = model if isinstance(model, Ensemble) else Ensemble([model])
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    device = models.first.item_emb.weight.device
    item_vecs = [m.item_vectors() for m in models]
    ranks = np.empty(len(data), np.int64)
    for lo in range(0, len(data), batch_size):
        hi = min(lo + batch_size, len(data))
        hist = data.histories[lo:hi]
        codes = data.event_types[lo:hi]
        bags = _user_bags(user_bags, data.users[lo:hi])
        scores = summed_scores(  # [B, N]
            _scores(m, vecs, hist, codes, bags) for m, vecs in zip(models, item_vecs, strict=True)
        )
        targets = torch.from_numpy(data.targets[lo:hi]).to(device)
        rows = torch.arange(hi - lo, device=device)
        target_scores = scores[rows, targets].clone()
        lengths = torch.tensor([len(h) for h in hist])
        seen_rows = torch.repeat_interleave(torch.arange(hi - lo), lengths).to(device)
        seen = torch.from_numpy(np.concatenate(hist)).to(device)
        scores[seen_rows, seen] = float("-inf")
        scores[rows, targets] = target_scores  # the target always stays a candidate
        # Ties count against the target: +1 for every other item with the same score.
        higher_or_tied = (scores >= target_scores[:, None]).sum(dim=1)
        ranks[lo:hi] = higher_or_tied.cpu().numpy()
    for m, mode in zip(models, was_training, strict=True):
        m.train(mode)
    return ranks


def ranking_metrics(ranks: np.ndarray, k: int = 10, prefix: str = "valid_") -> dict[str, float]:
    """HR@k and NDCG@k (one target per user) from 1-based ranks."""
    if len(ranks) == 0:
        return {f"{prefix}hr@{k}": float("nan"), f"{prefix}ndcg@{k}": float("nan")}
    gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
    return {f"{prefix}hr@{k}": float((ranks <= k).mean()), f"{prefix}ndcg@{k}": float(gains.mean())}
