import math

import numpy as np
import pytest

from attune.ranking import DecayedPopularity, PopularityConfig

DAY = 86_400.0


def closed_form(
    events: list[tuple[int, float, float]], now: float, half_life: float, n: int
) -> np.ndarray:
    out = np.zeros(n)
    for item, t, w in events:
        out[item] += w * 0.5 ** ((now - t) / half_life)
    return out


def test_weight_halves_every_half_life() -> None:
    pop = DecayedPopularity(3, PopularityConfig(half_life_seconds=DAY), start_time=100.0)
    pop.add(1, 100.0, weight=4.0)
    assert pop.scores(100.0)[1] == pytest.approx(4.0)
    assert pop.scores(100.0 + DAY)[1] == pytest.approx(2.0)
    assert pop.scores(100.0 + 3 * DAY)[1] == pytest.approx(0.5)


def test_recent_activity_beats_old_bulk() -> None:
    pop = DecayedPopularity(2, PopularityConfig(half_life_seconds=DAY))
    for _ in range(3):
        pop.add(0, 0.0)
    pop.add(1, 2 * DAY)  # 3 events two half-lives ago are worth 0.75 now
    ids, scores = pop.top(2, now=2 * DAY)
    assert ids.tolist() == [1, 0]
    np.testing.assert_allclose(scores, [1.0, 0.75])


def test_long_runs_stay_finite_and_exact() -> None:
    half_life = 60.0
    pop = DecayedPopularity(4, PopularityConfig(half_life_seconds=half_life))
    events = []
    for step in range(4000):  # 4000 events over 20,000 half-lives: 2**20000 would overflow
        t = step * 5 * half_life
        events.append((step % 4, t, 1.0 + step % 3))
        pop.add(step % 4, t, 1.0 + step % 3)
    now = events[-1][1]
    got = pop.scores(now)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, closed_form(events[-200:], now, half_life, 4), rtol=1e-9)


def test_head_stays_exact_under_random_streams() -> None:
    rng = np.random.default_rng(0)
    n, half_life = 300, 50.0
    pop = DecayedPopularity(n, PopularityConfig(half_life_seconds=half_life, head_size=8))
    events = []
    for step in range(3000):
        item = int(rng.zipf(1.3) % n)
        events.append((item, step * 0.7, float(rng.integers(1, 4))))
        pop.add(*events[-1])
    now = 3000 * 0.7
    truth = closed_form(events, now, half_life, n)
    for k in (5, 8, 30):  # inside and beyond the head
        ids, scores = pop.top(k, now)
        np.testing.assert_allclose(scores, np.sort(truth)[::-1][:k], rtol=1e-9)
        np.testing.assert_allclose(truth[ids], scores, rtol=1e-9)


def test_top_respects_allowed_and_exclude_and_fills_with_unseen_items() -> None:
    pop = DecayedPopularity(6, PopularityConfig(head_size=2))
    for item, count in [(0, 5), (1, 4), (2, 3)]:
        for _ in range(count):
            pop.add(item, 0.0)
    allowed = np.array([True, True, False, True, True, True, True])  # 7: one item not seen yet
    ids, _ = pop.top(4, 0.0, allowed=allowed, exclude=np.array([1]))
    assert ids[0] == 0
    assert set(ids.tolist()) <= {0, 3, 4, 5, 6} and len(ids) == 4
    assert len(pop.top(10, 0.0, allowed=allowed)[0]) == 6


def test_bulk_load_equals_one_by_one() -> None:
    rng = np.random.default_rng(1)
    items = rng.integers(0, 50, 500)
    times = np.sort(rng.uniform(0, 30 * DAY, 500))
    weights = rng.uniform(0, 3, 500)
    one = DecayedPopularity(50)
    for i, t, w in zip(items, times, weights, strict=True):
        one.add(int(i), float(t), float(w))
    bulk = DecayedPopularity(50)
    bulk.add_many(items, times, weights)
    now = 31 * DAY
    np.testing.assert_allclose(bulk.scores(now), one.scores(now), rtol=1e-9)
    np.testing.assert_array_equal(bulk.top(10, now)[0], one.top(10, now)[0])


def test_new_items_grow_the_table() -> None:
    pop = DecayedPopularity(2)
    pop.add(10, 0.0)
    assert pop.n_items == 11 and pop.top(1, 0.0)[0].tolist() == [10]


@pytest.mark.parametrize("weight", [-1.0, math.inf, math.nan])
def test_bad_weights_are_rejected(weight: float) -> None:
    with pytest.raises(ValueError):
        DecayedPopularity(1).add(0, 0.0, weight)
