"""Seeded percentile-bootstrap confidence intervals for per-user metric means."""

from __future__ import annotations

import numpy as np

# Cap on resamples x users drawn at once, so 35k users x 1000 resamples never builds a
# 35M-entry index array.
_MAX_DRAWS_PER_CHUNK = 4_000_000


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the mean of `values`, resampling users with replacement.

    Equal seeds give equal resamples, so intervals of different metrics computed on the same
    users with the same seed come from the same bootstrap samples.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_DRAWS_PER_CHUNK // n)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))
