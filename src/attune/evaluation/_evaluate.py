"""Full-ranking offline evaluation: every item is a candidate, never sampled negatives."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attune.evaluation._bootstrap import bootstrap_ci
from attune.evaluation._per_user import PerUserResults
from attune.evaluation._ranking import (
    exclusion_mask,
    ndcg_at_k,
    reciprocal_ranks,
    target_ranks,
    top_k,
)
from attune.evaluation._scorer import Scorer, as_score_array
from attune.log import get_logger

_log = get_logger(__name__)


@dataclass(frozen=True)
class EvaluationResult:
    """Means over users of each metric, their 95% bootstrap intervals and per-user rows.

    `hr` is HR@k, equal to Recall@k with one target per user. `mrr` uses the full ranking,
    without a cutoff. `coverage` is the share of the catalogue that appears in at least one
    user's top-k list. `popularity` is the mean training count of the recommended items and
    `popularity_ratio` that mean divided by the mean count of a catalogue item (1.0 = no
    popularity bias); both are None when no item popularity was given.
    """

    k: int
    n_users: int
    n_items: int
    exclude_seen: bool
    hr: float
    ndcg: float
    mrr: float
    coverage: float
    popularity: float | None
    popularity_ratio: float | None
    ci95: dict[str, tuple[float, float]]
    """Metric name (as in `metrics`) -> (low, high) percentile bootstrap interval."""
    per_user: PerUserResults = field(repr=False)
    seconds: float = 0.0
    """Wall time of the evaluation, scoring included."""

    @property
    def metrics(self) -> dict[str, float]:
        """Flat metric dict keyed the way benchmarks report them (`hr@10`, `mrr`, ...)."""
        k = self.k
        out = {
            f"hr@{k}": self.hr,
            f"ndcg@{k}": self.ndcg,
            "mrr": self.mrr,
            f"coverage@{k}": self.coverage,
        }
        if self.popularity is not None and self.popularity_ratio is not None:
            out[f"popularity@{k}"] = self.popularity
            out[f"popularity_ratio@{k}"] = self.popularity_ratio
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-user rows; save those with `per_user.save`)."""
        return {
            "k": self.k,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "exclude_seen": self.exclude_seen,
            "metrics": self.metrics,
            "ci95": {name: list(bounds) for name, bounds in self.ci95.items()},
            "seconds": self.seconds,
        }


def evaluate(
    scorer: Scorer,
    users: np.ndarray,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    *,
    k: int = 10,
    exclude_seen: bool = True,
    batch_size: int = 512,
    item_popularity: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Rank each user's target against all `n_items` items and average the metrics.

    `histories[i]` is what the scorer sees for `users[i]` and, with `exclude_seen`, the items
    removed from that user's candidates (the target itself always stays a candidate). Ties
    count against the target (see `attune.evaluation._ranking`). `item_popularity` is a
    per-item training count for the popularity metrics. `seed` fixes the bootstrap.
    """
    users = np.asarray(users, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(users)
    _check_inputs(users, histories, targets, n_items, k, batch_size, item_popularity)
    popularity_arr = None if item_popularity is None else np.asarray(item_popularity, np.float64)
    start = time.perf_counter()
    ranked = _rank_targets(
        scorer, users, histories, targets, n_items, k, exclude_seen, batch_size, popularity_arr
    )
    ranks = ranked.ranks
    hits = ranks <= k
    ndcg = ndcg_at_k(ranks, k)
    rr = reciprocal_ranks(ranks)
    per_metric = {f"hr@{k}": hits.astype(np.float64), f"ndcg@{k}": ndcg, "mrr": rr}
    ci = {
        name: bootstrap_ci(v, n_resamples=n_bootstrap, seed=seed) for name, v in per_metric.items()
    }

    popularity, popularity_ratio = _popularity_of_lists(ranked, popularity_arr)
    result = EvaluationResult(
        k=k,
        n_users=n,
        n_items=n_items,
        exclude_seen=exclude_seen,
        hr=float(hits.mean()) if n else float("nan"),
        ndcg=float(ndcg.mean()) if n else float("nan"),
        mrr=float(rr.mean()) if n else float("nan"),
        coverage=float(ranked.recommended.mean()),
        popularity=popularity,
        popularity_ratio=popularity_ratio,
        ci95=ci,
        per_user=PerUserResults(users, targets, ranks, hits, ndcg),
        seconds=time.perf_counter() - start,
    )
    _log.info(
        "evaluated", users=n, items=n_items, seconds=round(result.seconds, 2), **result.metrics
    )
    return result


def _check_inputs(
    users: np.ndarray,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    k: int,
    batch_size: int,
    item_popularity: np.ndarray | None,
) -> None:
    """`ValueError` naming what is inconsistent in `evaluate`'s arguments."""
    n = len(users)
    if len(histories) != n or len(targets) != n:
        raise ValueError("users, histories and targets must have the same length")
    if n and (targets.min() < 0 or targets.max() >= n_items):
        raise ValueError("targets must be internal item indices in [0, n_items)")
    if k < 1 or batch_size < 1:
        raise ValueError("k and batch_size must be positive")
    if item_popularity is not None and len(item_popularity) != n_items:
        raise ValueError("item_popularity must have one entry per item")


@dataclass
class _RankedTargets:
    """What scoring every user yields: the target's rank and what the top-k lists showed."""

    ranks: np.ndarray
    """1-based rank of each user's target in the full ranking."""
    recommended: np.ndarray
    """Per item: whether it appears in at least one user's top-k list."""
    popularity_sum: float = 0.0
    """Sum of the popularity of every recommended slot (when a popularity was given)."""
    slots: int = 0
    """How many recommended slots `popularity_sum` covers."""


def _rank_targets(
    scorer: Scorer,
    users: np.ndarray,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    k: int,
    exclude_seen: bool,
    batch_size: int,
    popularity: np.ndarray | None,
) -> _RankedTargets:
    """Score the users batch by batch; rank each target and note every top-k list."""
    n = len(users)
    ranked = _RankedTargets(np.empty(n, dtype=np.int64), np.zeros(n_items, dtype=bool))
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        batch_hist = histories[lo:hi]
        scores = as_score_array(scorer.score(users[lo:hi], batch_hist), hi - lo, n_items)
        excluded = exclusion_mask(batch_hist, targets[lo:hi], n_items) if exclude_seen else None
        ranked.ranks[lo:hi] = target_ranks(scores, targets[lo:hi], excluded)
        items, valid = top_k(scores, k, excluded)
        shown = items[valid]
        ranked.recommended[shown] = True
        if popularity is not None:
            ranked.popularity_sum += float(popularity[shown].sum())
            ranked.slots += len(shown)
    return ranked


def _popularity_of_lists(
    ranked: _RankedTargets, popularity: np.ndarray | None
) -> tuple[float | None, float | None]:
    """Mean popularity of the recommended items, and its ratio to a catalogue item's mean."""
    if popularity is None:
        return None, None
    mean = ranked.popularity_sum / ranked.slots if ranked.slots else float("nan")
    catalogue_mean = float(popularity.mean())
    return mean, mean / catalogue_mean if catalogue_mean > 0 else float("nan")
