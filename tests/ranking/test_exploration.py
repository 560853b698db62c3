import numpy as np
import pytest

from attune.ranking import ExplorationConfig, ItemCatalogue, RankedItem, ReasonKind
from attune.ranking.exploration import (
    exploration_candidates,
    exploration_positions,
    pick_exploration,
    place,
)

from .conftest import make_catalogue


@pytest.mark.parametrize(
    ("k", "share", "first", "expected"),
    [
        (10, 0.2, 2, [2, 6]),
        (10, 0.0, 2, []),
        (20, 0.25, 0, [0, 4, 8, 12, 16]),
        (4, 0.2, 2, []),  # 0.8 slots rounds down to none
        (10, 0.5, 8, [8, 9]),  # capped by the room below first_position
        (3, 1.0, 5, []),
    ],
)
def test_positions_are_deterministic_and_spread(
    k: int, share: float, first: int, expected: list[int]
) -> None:
    cfg = ExplorationConfig(share=share, first_position=first)
    assert exploration_positions(k, cfg).tolist() == expected


def test_candidates_are_new_or_under_exposed_and_allowed() -> None:
    cat: ItemCatalogue = make_catalogue([[] for _ in range(6)])
    now = 1_000_000.0
    cat.created[:] = [now - 10, now - 1e6, np.nan, now - 1e6, now - 5, now - 1e6]
    exposures = np.array([500, 500, 3, 500, 500])  # item 5 has no count: never shown
    allowed = np.array([True, True, True, True, False, True])
    cfg = ExplorationConfig(new_item_seconds=100, max_exposures=10)
    got = exploration_candidates(cat, exposures, now, allowed, cfg)
    assert got.tolist() == [0, 2, 5]


def test_pick_is_seeded_and_draws_from_the_most_relevant_pool() -> None:
    cand = np.arange(100, 200)
    relevance = np.linspace(0, 1, 100)
    cfg = ExplorationConfig(pool_size=10)
    a = pick_exploration(cand, 3, np.random.default_rng(7), cfg, relevance)
    b = pick_exploration(cand, 3, np.random.default_rng(7), cfg, relevance)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 3
    assert (a >= 190).all()
    draws = {tuple(pick_exploration(cand, 3, np.random.default_rng(s), cfg)) for s in range(5)}
    assert len(draws) > 1  # the seed matters


def test_place_puts_exploration_at_positions_and_keeps_k() -> None:
    main = [RankedItem(i, 1.0, ReasonKind.SIMILAR) for i in range(10)]
    explore = [RankedItem(100 + i, 0.0, ReasonKind.EXPLORATION) for i in range(2)]
    out = place(main, explore, np.array([2, 6]), 10)
    assert [r.item for r in out] == [0, 1, 100, 2, 3, 4, 101, 5, 6, 7]


def test_place_appends_exploration_when_main_runs_out() -> None:
    main = [RankedItem(i, 1.0, ReasonKind.SIMILAR) for i in range(3)]
    explore = [RankedItem(100 + i, 0.0, ReasonKind.EXPLORATION) for i in range(2)]
    out = place(main, explore, np.array([2, 6]), 10)
    assert [r.item for r in out] == [0, 1, 100, 2, 101]
