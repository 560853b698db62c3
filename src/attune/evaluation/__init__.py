"""Offline evaluation: full ranking over the whole catalogue, with confidence intervals.

`evaluate(scorer, users, histories, targets, n_items)` ranks each user's held-out target
against every item (seen items removed), and reports HR@k, NDCG@k, MRR, catalogue coverage
and recommended-item popularity, with seeded bootstrap intervals and per-user rows.
"""

from attune.evaluation._bootstrap import bootstrap_ci
from attune.evaluation._evaluate import EvaluationResult, evaluate
from attune.evaluation._per_user import PerUserResults
from attune.evaluation._ranking import (
    exclusion_mask,
    item_counts,
    ndcg_at_k,
    reciprocal_ranks,
    target_ranks,
    top_k,
)
from attune.evaluation._recommend import NO_ITEM, recommend
from attune.evaluation._scorer import Scorer, as_score_array
from attune.evaluation._tasks import RankingTask, leave_one_out_task

__all__ = [
    "NO_ITEM",
    "EvaluationResult",
    "PerUserResults",
    "RankingTask",
    "Scorer",
    "as_score_array",
    "bootstrap_ci",
    "evaluate",
    "exclusion_mask",
    "item_counts",
    "leave_one_out_task",
    "ndcg_at_k",
    "reciprocal_ranks",
    "recommend",
    "target_ranks",
    "top_k",
]
