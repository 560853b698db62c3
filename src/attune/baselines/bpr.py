"""BPR (Bayesian personalized ranking) matrix factorization through `implicit`, on CPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from attune.baselines._matrix import TrainData, user_item_matrix
from attune.baselines._threads import resolve_threads


@dataclass(frozen=True)
class BPRConfig:
    """Hyperparameters of BPR (one setting for every dataset)."""

    factors: int = 64
    """Latent dimensions (implicit adds one more for the item bias)."""
    learning_rate: float = 0.05
    """SGD step size."""
    regularization: float = 0.02
    """L2 penalty on the factors."""
    iterations: int = 200
    """Epochs; each draws as many (user, positive, negative) triples as there are positives."""
    threads: int = 0
    """Native SGD threads; 0 = every CPU this process may use."""
    seed: int = 0
    """Seeds the initial factors and the sampler. With more than one thread the lock-free
    parallel SGD makes results vary slightly from run to run; use threads=1 for exact repeats."""


class BPR:
    """Matrix factorization trained with the pairwise BPR loss on the binary training matrix.

    Users are scored with their trained vectors, so items added to a history after training
    change nothing but the seen-item filter; a user unseen in training gets a zero vector,
    which leaves only the learned item bias (a popularity-like ranking).
    """

    def __init__(self, config: BPRConfig | None = None) -> None:
        self.config = config or BPRConfig()
        self.model: BayesianPersonalizedRanking | None = None

    def fit(self, train: TrainData, n_users: int, n_items: int) -> BPR:
        cfg = self.config
        x = user_item_matrix(train, n_users, n_items)
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.factors,
                learning_rate=cfg.learning_rate,
                regularization=cfg.regularization,
                iterations=cfg.iterations,
                num_threads=resolve_threads(cfg.threads),
                random_state=cfg.seed,
                verify_negative_samples=True,
            )
            model.fit(x, show_progress=False)
        self.model = model
        return self

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the model before scoring")
        trained = np.asarray(self.model.user_factors)
        users = np.asarray(users, dtype=np.int64)
        factors = np.zeros((len(users), trained.shape[1]), dtype=trained.dtype)
        factors[:, -1] = 1.0  # the column that multiplies the item bias
        known = users < len(trained)
        factors[known] = trained[users[known]]
        return np.asarray(factors @ np.asarray(self.model.item_factors).T, dtype=np.float32)
