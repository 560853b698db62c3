"""Reference recommenders to beat: most-popular, item-kNN, iALS and BPR.

Each has `fit(train, n_users, n_items)` (train = `Interactions` or per-user sequences, in
internal ids) and implements the `attune.evaluation.Scorer` protocol.
"""

from attune.baselines._matrix import TrainData, history_matrix, user_item_matrix
from attune.baselines.bpr import BPR, BPRConfig
from attune.baselines.ials import IALS, IALSConfig
from attune.baselines.itemknn import ItemKNN, ItemKNNConfig
from attune.baselines.popular import MostPopular

__all__ = [
    "BPR",
    "IALS",
    "BPRConfig",
    "IALSConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "MostPopular",
    "TrainData",
    "history_matrix",
    "user_item_matrix",
]
