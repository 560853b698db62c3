"""iALS (implicit-feedback alternating least squares) through the `implicit` library, on CPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from attune.baselines._matrix import TrainData, history_matrix, user_item_matrix
from attune.baselines._threads import resolve_threads


@dataclass(frozen=True)
class IALSConfig:
    """Hyperparameters of iALS (one setting for every dataset)."""

    factors: int = 256
    """Latent dimensions of user and item vectors."""
    regularization: float = 10.0
    """L2 penalty on the factors."""
    alpha: float = 10.0
    """Confidence of an observed (user, item) pair relative to an unobserved one (weight 1)."""
    iterations: int = 15
    """Full ALS sweeps (users then items)."""
    threads: int = 0
    """Native solver threads; 0 = every CPU this process may use."""
    seed: int = 0
    """Seeds the random initial factors; the solver is otherwise deterministic."""


class IALS:
    """Matrix factorization fitted on the binary users x items training matrix.

    At scoring time the user vector is solved afresh from the given history (exact least
    squares against the fixed item factors, `recalculate_user`), so a history that grew after
    training (leave-one-out test: train + validation item) and users unseen in training are
    both scored from what they did, not from a stale training vector.
    """

    def __init__(self, config: IALSConfig | None = None) -> None:
        self.config = config or IALSConfig()
        self.model: AlternatingLeastSquares | None = None
        self.n_items = 0

    def fit(self, train: TrainData, n_users: int, n_items: int) -> IALS:
        cfg = self.config
        x = user_item_matrix(train, n_users, n_items)
        # implicit's solvers run their own threads; a threaded BLAS underneath them slows
        # training down severalfold (implicit warns about exactly this).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                num_threads=resolve_threads(cfg.threads),
                random_state=cfg.seed,
                calculate_training_loss=False,
            )
            model.fit(x, show_progress=False)
        self.model, self.n_items = model, n_items
        return self

    def user_factors(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """[B, factors] user vectors solved from the histories."""
        if self.model is None:
            raise RuntimeError("fit the model before scoring")
        h = history_matrix(histories, self.n_items)
        with threadpool_limits(1, "blas"):
            return np.asarray(self.model.recalculate_user(np.arange(len(histories)), h))

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        assert self.model is not None  # user_factors checks with a clear message
        factors = self.user_factors(histories)
        return np.asarray(factors @ self.model.item_factors.T, dtype=np.float32)
