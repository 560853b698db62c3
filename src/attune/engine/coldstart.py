"""Cold-start vectors for users with no usable history: the mean interest of similar users.

For each user attribute token (e.g. `age_band=25-34`, `occupation=engineer`) the profile is
the mean normalised V_u of the users who have it; a new user's vector is the mean of the
profiles of their tokens. Rebuilt when the engine opens or swaps models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class AttributeProfiles:
    """Mean normalised interest vector per user attribute token."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}

    def rebuild(
        self, user_tokens: dict[int, list[str]], vector_of: Callable[[int], np.ndarray | None]
    ) -> None:
        self._sum, self._count = {}, {}
        for user, tokens in user_tokens.items():
            vec = vector_of(user)
            if vec is None or not tokens:
                continue
            unit = vec / max(float(np.linalg.norm(vec)), 1e-12)
            for t in tokens:
                if t in self._sum:
                    self._sum[t] += unit
                    self._count[t] += 1
                else:
                    self._sum[t] = unit.astype(np.float64)
                    self._count[t] = 1

    def vector(self, tokens: list[str]) -> np.ndarray | None:
        """Profile of a user with these tokens; None when no token has a profile."""
        known = [self._sum[t] / self._count[t] for t in tokens if t in self._sum]
        if not known:
            return None
        return np.mean(known, axis=0).astype(np.float32)
