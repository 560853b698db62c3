"""Behaviour of evaluate() a user relies on: exclusion rules, hand-checked metrics, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from attune.data.dataset import Interactions
from attune.data.splits import leave_one_out
from attune.evaluation import (
    NO_ITEM,
    bootstrap_ci,
    evaluate,
    item_counts,
    leave_one_out_task,
    recommend,
)


class FixedScores:
    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, np.float32)

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self.scores[users]


class TorchScores(FixedScores):
    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(self.scores[users]).to(torch.bfloat16).requires_grad_()


def test_hand_made_example_metrics() -> None:
    # 3 users, 5 items, k = 2.
    scores = np.array(
        [
            [5, 4, 3, 2, 1],  # target 1, item 0 seen -> rank 1
            [1, 2, 3, 4, 5],  # target 0, nothing seen -> rank 5
            [0, 9, 8, 7, 6],  # target 3, items 1, 2 seen -> rank 1
        ]
    )
    histories = [np.array([0]), np.array([], np.int64), np.array([1, 2])]
    popularity = np.array([10.0, 0.0, 5.0, 1.0, 4.0])
    r = evaluate(
        FixedScores(scores),
        np.arange(3),
        histories,
        np.array([1, 0, 3]),
        5,
        k=2,
        item_popularity=popularity,
    )
    assert r.per_user.ranks.tolist() == [1, 5, 1]
    assert r.hr == pytest.approx(2 / 3)
    assert r.ndcg == pytest.approx(2 / 3)
    assert r.mrr == pytest.approx((1 + 1 / 5 + 1) / 3)
    # Top-2 lists: {1, 2}, {4, 3}, {3, 4} -> items 1, 2, 3, 4 of 5.
    assert r.coverage == pytest.approx(4 / 5)
    # Recommended counts: 0 + 5, 4 + 1, 1 + 4 -> mean 15 / 6; catalogue mean is 4.
    assert r.popularity == pytest.approx(2.5)
    assert r.popularity_ratio == pytest.approx(2.5 / 4.0)


def test_seen_target_is_still_a_candidate() -> None:
    scores = np.array([[1.0, 9.0, 5.0]])
    r = evaluate(FixedScores(scores), np.array([0]), [np.array([1, 2])], np.array([1]), 3)
    assert r.per_user.ranks.tolist() == [1]


def test_seen_items_count_only_when_not_excluded() -> None:
    scores = np.array([[9.0, 8.0, 1.0]])
    args = (FixedScores(scores), np.array([0]), [np.array([0, 1])], np.array([2]), 3)
    assert evaluate(*args).per_user.ranks.tolist() == [1]
    assert evaluate(*args, exclude_seen=False).per_user.ranks.tolist() == [3]


def test_constant_scorer_gets_no_credit_for_ties() -> None:
    scores = np.zeros((4, 50))
    r = evaluate(
        FixedScores(scores), np.arange(4), [np.array([], np.int64)] * 4, np.array([0, 1, 2, 3]), 50
    )
    assert r.hr == 0.0
    assert set(r.per_user.ranks.tolist()) == {50}


def test_torch_scores_give_the_same_result_as_numpy() -> None:
    rng = np.random.default_rng(0)
    # Values exactly representable in bfloat16, so the conversion cannot reorder items.
    scores = rng.integers(-100, 100, (30, 40)).astype(np.float32)
    histories = [rng.choice(40, size=5, replace=False) for _ in range(30)]
    targets = rng.integers(0, 40, 30)
    a = evaluate(FixedScores(scores), np.arange(30), histories, targets, 40, batch_size=7)
    b = evaluate(TorchScores(scores), np.arange(30), histories, targets, 40, batch_size=7)
    assert a.per_user.ranks.tolist() == b.per_user.ranks.tolist()
    assert a.metrics == b.metrics


def test_bad_scores_are_rejected() -> None:
    one = (np.array([0]), [np.array([], np.int64)], np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        evaluate(FixedScores(np.zeros((1, 3))), *one, n_items=4)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(FixedScores(np.array([[np.nan, 1.0]])), *one, n_items=2)
    with pytest.raises(ValueError, match="targets"):
        evaluate(FixedScores(np.zeros((1, 2))), one[0], one[1], np.array([2]), n_items=2)


def test_bootstrap_interval_contains_the_mean_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    values = (rng.random(500) < 0.1).astype(float)
    low, high = bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, seed=3)
    # With 500 Bernoulli(0.1) draws the 95% interval is roughly mean +- 0.026.
    assert 0.03 < high - low < 0.08


def test_result_intervals_bracket_the_reported_means() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random((200, 30))
    targets = rng.integers(0, 30, 200)
    r = evaluate(FixedScores(scores), np.arange(200), [np.array([], np.int64)] * 200, targets, 30)
    for name, (low, high) in r.ci95.items():
        assert low <= r.metrics[name] <= high
    assert set(r.ci95) == {"hr@10", "ndcg@10", "mrr"}


def test_to_dict_is_json_and_per_user_rows_round_trip(tmp_path: Path) -> None:
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    r = evaluate(
        FixedScores(scores),
        np.array([0, 1]),
        [np.array([], np.int64)] * 2,
        np.array([0, 0]),
        3,
        k=1,
    )
    data = json.loads(json.dumps(r.to_dict()))
    assert data["metrics"]["hr@1"] == 0.5
    assert data["n_users"] == 2

    r.per_user.save(tmp_path / "u.csv")
    with (tmp_path / "u.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(row["user"], row["target"], row["rank"], row["hit"]) for row in rows] == [
        ("0", "0", "1", "1"),
        ("1", "0", "3", "0"),
    ]
    table = pq.read_table(r.per_user.save(tmp_path / "u.parquet")).to_pydict()
    assert table["rank"] == [1, 3]
    assert table["ndcg"] == [1.0, 0.0]
    with pytest.raises(ValueError, match="file type"):
        r.per_user.save(tmp_path / "u.txt")


def test_recommend_skips_seen_items_and_pads_when_candidates_run_out() -> None:
    scores = np.array([[9.0, 8.0, 7.0, 6.0]])
    items = recommend(FixedScores(scores), np.array([0]), [np.array([0, 2])], 4, k=3)
    assert items.tolist() == [[1, 3, NO_ITEM]]
    items = recommend(
        FixedScores(scores), np.array([0]), [np.array([0, 2])], 4, k=3, exclude_seen=False
    )
    assert items.tolist() == [[0, 1, 2]]


def test_leave_one_out_task_histories() -> None:
    # user 0: items 5, 6, 7, 8 in time order; user 1: a single event.
    inter = Interactions.sorted_by_time(
        users=np.array([0, 0, 1, 0, 0]),
        items=np.array([5, 6, 9, 7, 8]),
        timestamps=np.array([1.0, 2.0, 2.5, 3.0, 4.0]),
    )
    split = leave_one_out(inter)
    test = leave_one_out_task(split, n_users=2, stage="test")
    assert test.users.tolist() == [0, 1]
    assert test.targets.tolist() == [8, 9]
    assert [h.tolist() for h in test.histories] == [[5, 6, 7], []]
    valid = leave_one_out_task(split, n_users=2, stage="valid")
    assert valid.users.tolist() == [0]
    assert valid.targets.tolist() == [7]
    assert [h.tolist() for h in valid.histories] == [[5, 6]]
    assert len(test.subset(1, seed=0)) == 1


def test_item_counts() -> None:
    assert item_counts(np.array([2, 2, 0]), 4).tolist() == [1.0, 0.0, 2.0, 0.0]
