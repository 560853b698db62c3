"""evaluate() agrees with a plain, loop-based reference on random scores, ties included."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.evaluation import evaluate


class FixedScores:
    """A scorer that returns rows of a fixed matrix, looked up by user index."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self.scores[users]


def reference_rank(row: list[float], target: int, seen: set[int]) -> int:
    """Position of the target when candidates are sorted best first, the target placed last
    among equal scores (the documented pessimistic rule)."""
    rank = 1
    for item, value in enumerate(row):
        if item == target or item in seen:
            continue
        if value >= row[target]:
            rank += 1
    return rank


def reference_top_k(row: list[float], k: int, seen: set[int]) -> list[int]:
    candidates = [i for i in range(len(row)) if i not in seen]
    return sorted(candidates, key=lambda i: -row[i])[:k]


@st.composite
def ranking_problems(draw: st.DrawFn, distinct: bool = False) -> dict:
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(2, 15))
    if distinct:
        scores = np.stack(
            [
                np.random.default_rng(draw(st.integers(0, 10**6))).permutation(n_items)
                for _ in range(n_users)
            ]
        ).astype(np.float32)
    else:
        # Few distinct values so that ties are common.
        flat = draw(
            st.lists(st.integers(-3, 3), min_size=n_users * n_items, max_size=n_users * n_items)
        )
        scores = np.asarray(flat, np.float32).reshape(n_users, n_items)
    targets = [draw(st.integers(0, n_items - 1)) for _ in range(n_users)]
    histories = [
        draw(st.lists(st.integers(0, n_items - 1), max_size=n_items, unique=True))
        for _ in range(n_users)
    ]
    return {
        "scores": scores,
        "targets": np.asarray(targets, np.int64),
        "histories": [np.asarray(h, np.int64) for h in histories],
        "k": draw(st.integers(1, n_items + 2)),
        "exclude_seen": draw(st.booleans()),
        "batch_size": draw(st.integers(1, 9)),
    }


@settings(max_examples=150, deadline=None)
@given(ranking_problems())
def test_ranks_and_means_match_reference(p: dict) -> None:
    scores, targets, k = p["scores"], p["targets"], p["k"]
    users = np.arange(len(targets))
    result = evaluate(
        FixedScores(scores),
        users,
        p["histories"],
        targets,
        scores.shape[1],
        k=k,
        exclude_seen=p["exclude_seen"],
        batch_size=p["batch_size"],
        n_bootstrap=20,
    )

    ranks = []
    for u in users:
        seen = set(p["histories"][u].tolist()) if p["exclude_seen"] else set()
        ranks.append(reference_rank(scores[u].tolist(), int(targets[u]), seen))
    hr = sum(r <= k for r in ranks) / len(ranks)
    ndcg = sum(1 / math.log2(r + 1) for r in ranks if r <= k) / len(ranks)
    mrr = sum(1 / r for r in ranks) / len(ranks)

    assert result.per_user.ranks.tolist() == ranks
    assert math.isclose(result.hr, hr, abs_tol=1e-12)
    assert math.isclose(result.ndcg, ndcg, abs_tol=1e-12)
    assert math.isclose(result.mrr, mrr, abs_tol=1e-12)


@settings(max_examples=100, deadline=None)
@given(ranking_problems(distinct=True))
def test_coverage_and_popularity_match_reference(p: dict) -> None:
    scores, targets, k = p["scores"], p["targets"], p["k"]
    n_items = scores.shape[1]
    popularity = np.arange(1, n_items + 1, dtype=np.float64)[::-1]
    users = np.arange(len(targets))
    result = evaluate(
        FixedScores(scores),
        users,
        p["histories"],
        targets,
        n_items,
        k=k,
        exclude_seen=p["exclude_seen"],
        batch_size=p["batch_size"],
        item_popularity=popularity,
        n_bootstrap=20,
    )

    shown: list[int] = []
    for u in users:
        seen = set(p["histories"][u].tolist()) - {int(targets[u])} if p["exclude_seen"] else set()
        shown.extend(reference_top_k(scores[u].tolist(), k, seen))
    assert math.isclose(result.coverage, len(set(shown)) / n_items)
    assert result.popularity is not None
    assert math.isclose(result.popularity, float(np.mean(popularity[shown])))
