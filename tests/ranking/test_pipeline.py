from collections import Counter

import numpy as np
import pytest

from attune.data.dataset import AttributeTable
from attune.data.events import EventTypes
from attune.ranking import (
    DecayedPopularity,
    DiversityConfig,
    ExplorationConfig,
    FilterSpec,
    ItemCatalogue,
    RankContext,
    RankedItem,
    RankingConfig,
    ReasonKind,
    UserItems,
    compile_filter,
    rank,
)
from attune.retrieval import FaissConfig, FaissIndex, HNSWConfig

N, DIM, NOW = 2000, 16, 5_000_000.0
World = tuple[np.ndarray, np.ndarray, FaissIndex]


@pytest.fixture(scope="module")
def world() -> World:
    """Items in 10 topic clusters; an item's genre is its cluster, its brand is random."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, DIM))
    genre = rng.integers(0, 10, N)
    vecs = (centers[genre] + 0.4 * rng.normal(size=(N, DIM))).astype(np.float32)
    index = FaissIndex(DIM, FaissConfig(structure=HNSWConfig(m=16), report_queries=0))
    index.build(vecs)
    return vecs, genre, index


def catalogue(genre: np.ndarray) -> ItemCatalogue:
    rng = np.random.default_rng(1)
    rows = [[f"genre=g{g}", f"brand=b{rng.integers(0, 50)}"] for g in genre]
    return ItemCatalogue.open(N, AttributeTable.from_rows(rows))


def ctx(
    world: World,
    spec: FilterSpec | None = None,
    user: UserItems | None = None,
    cat: ItemCatalogue | None = None,
    popularity: DecayedPopularity | None = None,
    exposures: np.ndarray | None = None,
) -> RankContext:
    _, genre, index = world
    cat = cat or catalogue(genre)
    f = compile_filter(spec or FilterSpec(), cat)
    return RankContext(index, f, NOW, user, popularity=popularity, exposures=exposures)


def items(ranked: list[RankedItem]) -> list[int]:
    return [r.item for r in ranked]


def test_plain_ranking_is_the_index_top_k(world: World) -> None:
    vecs, _, index = world
    out = rank(vecs[5], 10, ctx(world))
    assert items(out) == index.search(vecs[[5]], 10)[0][0].tolist()
    assert all(r.reason is ReasonKind.SIMILAR for r in out)


@pytest.mark.parametrize("brands", [["b1"], ["b1", "b2", "b3"], [f"b{i}" for i in range(40)]])
def test_never_fewer_than_k_when_enough_items_are_eligible(world: World, brands: list[str]) -> None:
    _, genre, _ = world
    rng = np.random.default_rng(2)
    seen = rng.choice(N, 300, replace=False)
    user = UserItems(seen, np.zeros(300, np.int16), np.arange(10), np.arange(10, 20))
    cat = catalogue(genre)
    cat.blocked[rng.choice(N, 200, replace=False)] = True
    cat.available_until[rng.choice(N, 200, replace=False)] = NOW - 1
    cat.touch()
    spec = FilterSpec(include={"brand": brands}, exclude={"genre": ["g0"]})
    c = ctx(world, spec, user, cat)
    eligible = c.filter.mask(NOW, user)
    assert eligible.sum() >= 10
    for q in rng.normal(size=(5, DIM)):
        out = items(rank(q, 10, c))
        assert len(out) == 10 and len(set(out)) == 10
        assert eligible[out].all()


def test_returns_all_eligible_when_fewer_than_k(world: World) -> None:
    vecs, genre, _ = world
    cat = catalogue(genre)
    cat.blocked[:] = True
    cat.blocked[[3, 30, 300]] = False
    cat.touch()
    assert sorted(items(rank(vecs[0], 10, ctx(world, cat=cat)))) == [3, 30, 300]


def test_cold_user_gets_popular_items(world: World) -> None:
    pop = DecayedPopularity(N)
    for item, count in [(7, 5), (8, 4), (9, 3)]:
        for _ in range(count):
            pop.add(item, NOW)
    user = UserItems(
        np.array([8]),
        np.array([EventTypes().code("view")], np.int16),
        np.empty(0, np.int64),
        np.empty(0, np.int64),
    )
    out = rank(None, 5, ctx(world, user=user, popularity=pop))
    assert items(out)[:2] == [7, 9] and len(out) == 5
    assert all(r.reason is ReasonKind.POPULAR for r in out)


def test_popular_fill_covers_items_missing_from_the_index(world: World) -> None:
    vecs, genre, _ = world
    cat = catalogue(genre)
    cat.ensure_size(N + 5)  # five new items without vectors yet
    cat.blocked[:N] = True
    cat.blocked[[1, 2]] = False
    cat.touch()
    pop = DecayedPopularity(N)
    pop.add(N + 3, NOW)
    out = rank(vecs[1], 4, ctx(world, cat=cat, popularity=pop))
    assert items(out)[:2] == [1, 2] and items(out)[2] == N + 3 and len(out) == 4
    assert [r.reason for r in out[2:]] == [ReasonKind.POPULAR] * 2


def test_genre_cap_holds_and_list_stays_full(world: World) -> None:
    vecs, genre, _ = world
    cfg = RankingConfig(diversity=DiversityConfig(cap_field="genre", cap_per_value=2))
    out = items(rank(vecs[11], 10, ctx(world), cfg))
    plain = items(rank(vecs[11], 10, ctx(world)))
    assert max(Counter(genre[plain].tolist()).values()) > 2  # the cap has work to do
    assert len(out) == 10 and max(Counter(genre[out].tolist()).values()) <= 2


def test_mmr_lowers_list_similarity_at_a_bounded_relevance_cost(world: World) -> None:
    vecs, _, index = world
    cfg = RankingConfig(diversity=DiversityConfig(mmr_lambda=0.6, pool_factor=3))
    diverse = items(rank(vecs[11], 10, ctx(world), cfg))
    plain = items(rank(vecs[11], 10, ctx(world)))

    def mean_pair_cosine(ids: list[int]) -> float:
        v = index.vectors(np.array(ids))
        sim = v @ v.T
        return float(sim[np.triu_indices(len(ids), 1)].mean())

    assert diverse[0] == plain[0] and diverse != plain
    assert mean_pair_cosine(diverse) < mean_pair_cosine(plain) - 0.02
    pool = index.search(vecs[[11]], 30)[0][0].tolist()
    assert set(diverse) <= set(pool)  # drawn from the relevant pool, not from anywhere


def test_exploration_share_positions_and_reasons(world: World) -> None:
    vecs, genre, _ = world
    cat = catalogue(genre)
    exposures = np.full(N, 1000)
    fresh = np.arange(1500, 1600)
    exposures[fresh] = 0
    cfg = RankingConfig(exploration=ExplorationConfig(share=0.2, first_position=2))
    c = ctx(world, cat=cat, exposures=exposures)
    out = rank(vecs[3], 10, c, cfg, np.random.default_rng(4))
    reasons = [r.reason for r in out]
    assert len(out) == 10 and len(set(items(out))) == 10
    assert [i for i, r in enumerate(reasons) if r is ReasonKind.EXPLORATION] == [2, 6]
    explored = [r for r in out if r.reason is ReasonKind.EXPLORATION]
    assert all(r.item in set(fresh.tolist()) and r.details["exposures"] == 0 for r in explored)
    again = rank(vecs[3], 10, c, cfg, np.random.default_rng(4))
    assert items(again) == items(out)
    plain = items(rank(vecs[3], 10, c))
    assert [r.item for r in out if r.reason is ReasonKind.SIMILAR] == plain[:8]


def test_exploration_respects_filters_and_serves_cold_users(world: World) -> None:
    _, genre, _ = world
    cat = catalogue(genre)
    exposures = np.full(N, 1000)
    exposures[:40] = 0  # under-exposed: items 0..39
    cat.blocked[:30] = True  # ... but most of them are blocked
    cat.touch()
    pop = DecayedPopularity(N)
    for item in (100, 101, 102, 103, 104):
        pop.add(item, NOW)
    cfg = RankingConfig(exploration=ExplorationConfig(share=0.4, first_position=1))
    c = ctx(world, cat=cat, popularity=pop, exposures=exposures)
    out = rank(None, 5, c, cfg, np.random.default_rng(0))
    explored = [r.item for r in out if r.reason is ReasonKind.EXPLORATION]
    assert len(out) == 5 and len(explored) == 2
    assert all(30 <= i < 40 for i in explored)
    assert [r.item for r in out if r.reason is ReasonKind.POPULAR] == [100, 101, 102]


# -- diversity spreads a list over the categories, whatever the embedding -------------------


def spread_world(categories: np.ndarray) -> tuple[FaissIndex, ItemCatalogue]:
    """Random vectors (a category says nothing about where its items lie, as when a model
    was trained without item attributes) and one `category` value per item."""
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(len(categories), DIM)).astype(np.float32)
    index = FaissIndex(DIM, FaissConfig(structure=HNSWConfig(m=16), report_queries=0))
    index.build(vecs)
    rows = [[f"category=c{c}", f"brand=b{rng.integers(0, 5)}"] for c in categories]
    return index, ItemCatalogue.open(len(categories), AttributeTable.from_rows(rows))


def category_counts(ranked: list[RankedItem], categories: np.ndarray) -> list[int]:
    return sorted(Counter(categories[items(ranked)].tolist()).values(), reverse=True)


@pytest.mark.parametrize("excluded", [[], ["c4"]], ids=["5 categories", "4 categories"])
def test_full_diversity_holds_at_most_3_of_10_per_category(excluded: list[str]) -> None:
    # 80% of the catalogue is c0: a relevance or embedding-only list is mostly c0.
    categories = np.repeat([0, 1, 2, 3, 4], [400, 25, 25, 25, 25])
    index, cat = spread_world(categories)
    spec = FilterSpec(exclude={"category": excluded}) if excluded else FilterSpec()
    c = RankContext(index, compile_filter(spec, cat), NOW)
    full = RankingConfig(diversity=DiversityConfig(mmr_lambda=1.0))
    worst = []
    for q in np.random.default_rng(6).normal(size=(8, DIM)):
        plain = rank(q, 10, c)
        assert category_counts(plain, categories)[0] > 3  # the spread has work to do
        diverse = rank(q, 10, c, full)
        assert len(diverse) == 10 and len(set(items(diverse))) == 10
        worst.append(category_counts(diverse, categories)[0])
    assert max(worst) <= 3


def test_a_lower_diversity_caps_less() -> None:
    categories = np.repeat([0, 1, 2, 3], [400, 30, 30, 30])
    index, cat = spread_world(categories)
    c = RankContext(index, compile_filter(FilterSpec(), cat), NOW)
    q = np.random.default_rng(7).normal(size=DIM)
    part = rank(q, 10, c, RankingConfig(diversity=DiversityConfig(mmr_lambda=0.875)))
    assert len(part) == 10 and category_counts(part, categories)[0] <= 7  # 2.5 + 0.5 * 7.5


def test_the_spread_never_leaves_a_list_short() -> None:
    """Three categories of one item each and a big one: an even spread cannot fill 10, so
    the big category takes the rest; with too few items for the cap, the list fills anyway."""
    categories = np.repeat([0, 1, 2, 3], [200, 1, 1, 1])
    index, cat = spread_world(categories)
    c = RankContext(index, compile_filter(FilterSpec(), cat), NOW)
    full = RankingConfig(diversity=DiversityConfig(mmr_lambda=1.0))
    out = rank(np.random.default_rng(8).normal(size=DIM), 10, c, full)
    assert len(out) == 10 and category_counts(out, categories) == [7, 1, 1, 1]
    # A configured cap stays hard: 2 per category leaves room for 2 + 1 + 1 + 1 items.
    hard = RankingConfig(diversity=DiversityConfig(mmr_lambda=1.0, cap_field="category",
                                                   cap_per_value=2))  # fmt: skip
    assert category_counts(rank(np.ones(DIM), 10, c, hard), categories) == [2, 1, 1, 1]
