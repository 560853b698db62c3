from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.ranking import DiversityConfig, ItemCatalogue, attribute_groups, diversify
from attune.ranking.diversity import ValueCap, list_cap, spread_cap


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@settings(max_examples=50, deadline=None)
@given(
    scores=st.lists(st.floats(-1, 1, allow_nan=False), min_size=0, max_size=40),
    k=st.integers(0, 45),
    seed=st.integers(0, 1000),
)
def test_lambda_zero_is_plain_ranking(scores: list[float], k: int, seed: int) -> None:
    s = np.array(scores)
    vecs = unit(np.random.default_rng(seed).normal(size=(len(s), 8)) + 1e-3)
    got = diversify(s, k, vectors=vecs, mmr_lambda=0.0)
    np.testing.assert_array_equal(got, np.argsort(-s, kind="stable")[:k])


def test_high_lambda_skips_near_duplicates() -> None:
    base = np.array([1.0, 0.0, 0.0])
    vecs = unit(
        np.array(
            [base, base + np.array([0, 0.01, 0]), base + np.array([0, 0, 0.01]), [0.0, 1.0, 0.0]]
        )
    )
    scores = np.array([0.9, 0.89, 0.88, 0.6])  # three near-copies outscore the different one
    assert diversify(scores, 2, vectors=vecs, mmr_lambda=0.0).tolist() == [0, 1]
    assert diversify(scores, 2, vectors=vecs, mmr_lambda=0.7).tolist() == [0, 3]


def test_mmr_picks_are_spread_out() -> None:
    rng = np.random.default_rng(0)
    centers = unit(rng.normal(size=(5, 16)))
    vecs = unit(np.repeat(centers, 20, axis=0) + 0.05 * rng.normal(size=(100, 16)))
    scores = np.repeat([0.9, 0.8, 0.7, 0.6, 0.5], 20) + rng.uniform(0, 0.01, 100)

    def mean_pairwise_similarity(picked: np.ndarray) -> float:
        sim = vecs[picked] @ vecs[picked].T
        return float(sim[np.triu_indices(len(picked), 1)].mean())

    plain = diversify(scores, 10, vectors=vecs, mmr_lambda=0.0)
    diverse = diversify(scores, 10, vectors=vecs, mmr_lambda=0.5)
    assert len({int(i) // 20 for i in plain}) == 1
    assert len({int(i) // 20 for i in diverse}) == 5
    assert mean_pairwise_similarity(diverse) < mean_pairwise_similarity(plain) - 0.3


def test_cap_per_value_holds_and_keeps_best_feasible() -> None:
    groups = [np.array([g]) for g in [0, 0, 0, 1, 0, 2, 1, 1]]
    scores = np.linspace(1, 0, 8)
    got = diversify(scores, 5, groups=groups, cap=2)
    assert got.tolist() == [0, 1, 3, 5, 6]
    held = Counter(int(groups[i][0]) for i in got)
    assert max(held.values()) <= 2


def test_cap_counts_every_value_of_a_multi_valued_item() -> None:
    groups = [np.array([0, 1]), np.array([1]), np.array([0]), np.array([], np.int64)]
    assert diversify(np.array([4.0, 3, 2, 1]), 4, groups=groups, cap=1).tolist() == [0, 3]


def test_counts_carry_over_between_calls() -> None:
    counts: Counter[int] = Counter({7: 1})
    groups = [np.array([7]), np.array([8])]
    assert diversify(np.array([2.0, 1.0]), 2, groups=groups, cap=1, counts=counts).tolist() == [1]
    assert counts == Counter({7: 1, 8: 1})


def test_missing_inputs_are_errors() -> None:
    with pytest.raises(ValueError):
        diversify(np.ones(3), 2, mmr_lambda=0.5)
    with pytest.raises(ValueError):
        diversify(np.ones(3), 2, cap=1)


def test_attribute_groups_read_one_field(shop: ItemCatalogue) -> None:
    groups = attribute_groups(shop, np.array([2, 4, 5]), "genre")
    names = [[shop.attributes.tokens.external(int(t)) for t in g] for g in groups]
    assert [sorted(n) for n in names] == [["genre=comedy", "genre=drama"], [], []]


@pytest.mark.parametrize(
    ("mmr_lambda", "per_value", "unvalued", "cap"),
    [
        (1.0, [50, 50, 50, 50], 0, 3),  # an even spread: 10 over 4 values
        (1.0, [50] * 10, 0, 1),
        (0.875, [50, 50, 50, 50], 0, 7),  # 2.5 + 0.5 * (10 - 2.5), rounded up
        (0.75, [50, 50, 50, 50], 0, 10),  # MMR alone up to here
        (0.0, [50, 50, 50, 50], 0, 10),  # off
        (1.0, [50, 0, 0, 0], 0, 10),  # one value with eligible items: nothing to spread
        (1.0, [100, 1, 1, 1], 0, 7),  # raised until the eligible items can fill 10
        (1.0, [100, 1, 1, 1], 4, 3),  # items without the field fill the rest
    ],
)
def test_spread_cap(mmr_lambda: float, per_value: list[int], unvalued: int, cap: int) -> None:
    assert spread_cap(10, mmr_lambda, np.array(per_value), unvalued) == cap


def test_list_cap_spreads_over_the_category_field_or_the_configured_one(
    shop: ItemCatalogue,
) -> None:
    allowed = np.ones(shop.n_items, dtype=bool)
    assert list_cap(shop, DiversityConfig(), allowed, 4) is None
    assert list_cap(shop, DiversityConfig(mmr_lambda=0.75), allowed, 4) is None
    # genre (drama 2, comedy 2, horror 1) over 4 slots at full diversity: 2 per value.
    cap = list_cap(shop, DiversityConfig(mmr_lambda=1.0), allowed, 4)
    assert cap == ValueCap("genre", 2, soft=True)
    configured = DiversityConfig(mmr_lambda=1.0, cap_field="brand", cap_per_value=1)
    assert list_cap(shop, configured, allowed, 4) == ValueCap("brand", 1)
    loose = DiversityConfig(mmr_lambda=1.0, cap_field="brand", cap_per_value=4)
    assert list_cap(shop, loose, allowed, 4) == ValueCap("brand", 2, True, ValueCap("brand", 4))
