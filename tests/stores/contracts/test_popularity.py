"""The `PopularityCounts` contract (`Storage.popularity`: 4 items, half-life 100 s, a head
of 2)."""

from __future__ import annotations

import numpy as np
import pytest

from attune.ports import PopularityCounts
from tests.stores.conftest import Backend

T = 1_000.0


def test_counts_decay_by_half_every_half_life(popularity: PopularityCounts) -> None:
    assert popularity.n_items == 4
    np.testing.assert_array_equal(popularity.scores(T), np.zeros(4))
    popularity.add(1, T)
    popularity.add(1, T, weight=2.0)
    popularity.add(3, T + 100.0, weight=4.0)
    np.testing.assert_allclose(popularity.scores(T + 100.0), [0.0, 1.5, 0.0, 4.0])
    np.testing.assert_allclose(popularity.scores(T + 200.0, np.array([3, 1])), [2.0, 0.75])


def test_top_ranks_allowed_items_that_are_not_excluded(popularity: PopularityCounts) -> None:
    for item, n in ((0, 1), (1, 4), (2, 3), (3, 2)):
        for _ in range(n):
            popularity.add(item, T)
    ids, scores = popularity.top(3, T)
    assert ids.tolist() == [1, 2, 3]
    np.testing.assert_allclose(scores, [4.0, 3.0, 2.0])
    ids, _ = popularity.top(2, T, exclude=np.array([1]))
    assert ids.tolist() == [2, 3]
    allowed = np.array([True, False, False, True])
    assert popularity.top(3, T, allowed=allowed)[0].tolist() == [3, 0]
    assert popularity.top(3, T, allowed=allowed, exclude=np.array([3]))[0].tolist() == [0]
    # Items past the end of `allowed` are not allowed.
    assert popularity.top(4, T, allowed=np.array([True, True]))[0].tolist() == [1, 0]


def test_items_without_events_score_zero_and_still_qualify(
    popularity: PopularityCounts,
) -> None:
    popularity.add(2, T)
    ids, scores = popularity.top(4, T)
    assert ids[0] == 2 and sorted(ids.tolist()) == [0, 1, 2, 3]
    assert scores.tolist()[1:] == [0.0, 0.0, 0.0]


def test_ensure_size_and_adding_past_the_end_grow_the_counts(
    popularity: PopularityCounts,
) -> None:
    popularity.ensure_size(2)  # never shrinks
    assert popularity.n_items == 4
    popularity.ensure_size(6)
    assert popularity.n_items == 6 and popularity.scores(T)[5] == 0.0
    popularity.add(8, T, weight=2.0)
    assert popularity.n_items == 9 and popularity.scores(T)[8] == pytest.approx(2.0)
    assert popularity.top(1, T)[0].tolist() == [8]


def test_a_negative_weight_is_refused(popularity: PopularityCounts) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        popularity.add(0, T, weight=-1.0)


def _counts(backend: Backend) -> PopularityCounts:
    return backend.open().popularity(n_items=4, half_life_seconds=100.0, head_size=2)


def test_add_many_counts_as_adding_one_by_one(backend: Backend) -> None:
    """Two batches (items past the end, slightly out-of-order times, weights); the second
    crosses the rescale point (500 half-lives past the reference time) part-way through."""
    rng = np.random.default_rng(7)
    early = (rng.integers(0, 6, 40), T + rng.uniform(0, 300, 40), rng.uniform(0, 3, 40))
    late_t = np.concatenate([T + rng.uniform(300, 400, 30), T + rng.uniform(50_400, 50_600, 30)])
    late = (rng.integers(0, 8, 60), late_t, rng.uniform(0, 3, 60))
    now = T + 50_700.0
    one = _counts(backend)
    for items, times, weights in (early, late):
        for i, t, w in zip(items, times, weights, strict=True):
            one.add(int(i), float(t), float(w))
    expected, top = one.scores(now), one.top(5, now)[0]
    many = _counts(backend)  # a fresh storage (Redis: emptied)
    many.add_many(early[0], early[1], early[2])
    many.add_many(*late)
    assert many.n_items == one.n_items
    np.testing.assert_allclose(many.scores(now), expected, rtol=1e-9)
    np.testing.assert_array_equal(many.top(5, now)[0], top)


def test_add_many_weighs_one_by_default_and_refuses_negative_weights(
    popularity: PopularityCounts,
) -> None:
    popularity.add_many(np.array([], np.int64), np.array([]))  # nothing to count
    popularity.add_many(np.array([2, 2, 0]), np.array([T, T, T]))
    np.testing.assert_allclose(popularity.scores(T), [1.0, 0.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        popularity.add_many(np.array([1]), np.array([T]), np.array([-1.0]))
