"""Next-item losses over all targets of a batch: full softmax and sampled softmax with logQ.

Both take the hidden states at positions that have a target ([M, D]), the targets as internal
item indices ([M]) and the current item vectors ([n_items, D]).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from attune.model.encoder import InterestEncoder


def full_softmax_loss(
    model: InterestEncoder, hidden: Tensor, targets: Tensor, item_vecs: Tensor
) -> Tensor:
    """Cross-entropy of the target against every item: the strongest signal, O(M * n_items)."""
    return F.cross_entropy(model.score(hidden, item_vecs), targets)


class SampledSoftmaxLoss:
    """Softmax over the target and `n_negatives` items drawn by popularity, shared by the batch.

    Popular items are drawn more often than uniform sampling would, which would bias the model
    against them; subtracting log(expected draws) from every logit (the logQ correction) makes
    the sampled softmax an unbiased estimate of the full one. Draws that hit a row's own target
    are masked out.
    """

    def __init__(self, item_counts: np.ndarray, n_negatives: int, device: torch.device) -> None:
        # Smoothing gives never-seen items a chance to be drawn as negatives.
        counts = torch.as_tensor(item_counts, dtype=torch.float64) + 1.0
        self.probs = (counts / counts.sum()).float().to(device)
        self.log_q = torch.log(self.probs * n_negatives)
        self.n_negatives = n_negatives

    def __call__(
        self, model: InterestEncoder, hidden: Tensor, targets: Tensor, item_vecs: Tensor
    ) -> Tensor:
        negatives = torch.multinomial(self.probs, self.n_negatives, replacement=True)  # [K]
        pos = model.score_pairs(hidden, item_vecs[targets]) - self.log_q[targets]  # [M]
        neg = model.score(hidden, item_vecs[negatives]) - self.log_q[negatives]  # [M, K]
        neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
        logits = torch.cat([pos[:, None], neg], dim=1)
        return F.cross_entropy(logits, torch.zeros_like(targets))
